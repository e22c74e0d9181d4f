"""The sandbox: ready-made scenarios played through the real service against an in-process
fake WeCom, never the network (`wecom-mod demo`; the console's sandbox will reuse them)."""
