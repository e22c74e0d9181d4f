"""The sandbox: ready-made scenarios played through the real service against an in-process
fake WeCom, never the network: `wecom-mod demo` on a throwaway database (`player`), and the
console's sandbox (沙盒) on groups marked as sandbox in the service's own database (`live`)."""
