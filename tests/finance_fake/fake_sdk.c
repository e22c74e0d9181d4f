/*
 * A fake of Tencent's libWeWorkFinanceSdk_C.so for tests: the same C signatures as
 * WeWorkFinanceSdk_C.h, deterministic behaviour, and counters the tests read back.
 *
 * Build: gcc -shared -fPIC -o libfake_finance.so fake_sdk.c
 *
 * Behaviour
 * - Init: 10000 when corpid or secret is NULL/empty, else 0 (like the real SDK, which does not
 *   check the secret until GetChatData).
 * - GetChatData: 10001 before Init (like the real SDK) or when corpid is "network-down";
 *   10000 when limit is 0 or above 1000; when the secret is not "archive-secret", 0 with the
 *   JSON errcode 48002 inside (what WeCom answers for a wrong secret). Otherwise the records
 *   seq+1 .. min(seq+limit, last available seq), each with msgid "msg-<seq>", the configured
 *   publickey_ver and encrypt_random_key, and encrypt_chat_msg = the fake encryption of a text
 *   message "第<seq>条消息". fake_set_answer() replaces the whole answer.
 * - DecryptData: encrypt_msg is hex( XOR(key, "OK:" + plaintext) ). 10008 for an empty key,
 *   10006 when the key does not turn the text into "OK:…" (wrong key), 10000 for bad hex.
 *   The real SDK aborts the process below 13 characters; the fake returns 99999 instead and
 *   counts its calls so a test can prove the binding never made them.
 * - NewSlice/FreeSlice keep a count of live slices; NewSdk/DestroySdk of live handles.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct Slice_t {
    char *buf;
    int len;
} Slice_t;

typedef struct WeWorkFinanceSdk_t {
    char corpid[128];
    char secret[128];
    int initialised;
} WeWorkFinanceSdk_t;

static int live_slices = 0;
static int live_sdks = 0;
static int decrypt_calls = 0;
static unsigned long long last_seq = 0;
static unsigned int last_limit = 0;
static int last_timeout = 0;
static char last_proxy[256];
static char last_passwd[256];
static unsigned long long available_seq = 5;
static char chat_key[256] = "fake-random-key-0123456789abcdef";
static int record_ver = 2;
static char *random_key_b64 = NULL;
static char *forced_answer = NULL;

static void set_slice(Slice_t *slice, char *buf, int len) {
    free(slice->buf);
    slice->buf = buf;
    slice->len = len;
}

static char *copy_string(const char *text) {
    size_t n = strlen(text);
    char *out = malloc(n + 1);
    memcpy(out, text, n + 1);
    return out;
}

/* hex( XOR(key, "OK:" + plaintext) ), malloc'd. */
static char *fake_encrypt_c(const char *key, const char *plaintext) {
    size_t klen = strlen(key), plen = strlen(plaintext), n = 3 + plen, i;
    char *clear = malloc(n + 1);
    char *out = malloc(2 * n + 1);
    memcpy(clear, "OK:", 3);
    memcpy(clear + 3, plaintext, plen);
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)clear[i] ^ (unsigned char)key[i % klen];
        sprintf(out + 2 * i, "%02x", c);
    }
    out[2 * n] = '\0';
    free(clear);
    return out;
}

/* ---- test controls ---- */

void fake_reset(void) {
    decrypt_calls = 0;
    last_seq = 0;
    last_limit = 0;
    last_timeout = 0;
    last_proxy[0] = '\0';
    last_passwd[0] = '\0';
    available_seq = 5;
    strcpy(chat_key, "fake-random-key-0123456789abcdef");
    record_ver = 2;
    free(random_key_b64);
    random_key_b64 = NULL;
    free(forced_answer);
    forced_answer = NULL;
}

int fake_live_slices(void) { return live_slices; }
int fake_live_sdks(void) { return live_sdks; }
int fake_decrypt_calls(void) { return decrypt_calls; }
unsigned long long fake_last_seq(void) { return last_seq; }
unsigned int fake_last_limit(void) { return last_limit; }
int fake_last_timeout(void) { return last_timeout; }
const char *fake_last_proxy(void) { return last_proxy; }
const char *fake_last_passwd(void) { return last_passwd; }
void fake_set_available_seq(unsigned long long seq) { available_seq = seq; }

void fake_configure_records(const char *key, int publickey_ver, const char *encrypt_random_key) {
    snprintf(chat_key, sizeof chat_key, "%s", key);
    record_ver = publickey_ver;
    free(random_key_b64);
    random_key_b64 = copy_string(encrypt_random_key);
}

void fake_set_answer(const char *json) {
    free(forced_answer);
    forced_answer = json ? copy_string(json) : NULL;
}

/* ---- the SDK's functions ---- */

WeWorkFinanceSdk_t *NewSdk(void) {
    live_sdks++;
    return calloc(1, sizeof(WeWorkFinanceSdk_t));
}

void DestroySdk(WeWorkFinanceSdk_t *sdk) {
    if (sdk) {
        live_sdks--;
        free(sdk);
    }
}

int Init(WeWorkFinanceSdk_t *sdk, const char *corpid, const char *secret) {
    if (!sdk || !corpid || !secret || !*corpid || !*secret) return 10000;
    snprintf(sdk->corpid, sizeof sdk->corpid, "%s", corpid);
    snprintf(sdk->secret, sizeof sdk->secret, "%s", secret);
    sdk->initialised = 1;
    return 0;
}

Slice_t *NewSlice(void) {
    live_slices++;
    return calloc(1, sizeof(Slice_t));
}

void FreeSlice(Slice_t *slice) {
    if (slice) {
        live_slices--;
        free(slice->buf);
        free(slice);
    }
}

char *GetContentFromSlice(Slice_t *slice) { return slice ? slice->buf : NULL; }
int GetSliceLen(Slice_t *slice) { return slice ? slice->len : 0; }

int GetChatData(WeWorkFinanceSdk_t *sdk, unsigned long long seq, unsigned int limit,
                const char *proxy, const char *passwd, int timeout, Slice_t *chatDatas) {
    last_seq = seq;
    last_limit = limit;
    last_timeout = timeout;
    snprintf(last_proxy, sizeof last_proxy, "%s", proxy ? proxy : "(null)");
    snprintf(last_passwd, sizeof last_passwd, "%s", passwd ? passwd : "(null)");
    if (!sdk || !sdk->initialised) return 10001;
    if (limit == 0 || limit > 1000) return 10000;
    if (strcmp(sdk->corpid, "network-down") == 0) return 10001;
    if (forced_answer) {
        set_slice(chatDatas, copy_string(forced_answer), (int)strlen(forced_answer));
        return 0;
    }
    if (strcmp(sdk->secret, "archive-secret") != 0) {
        const char *denied = "{\"errcode\":48002,\"errmsg\":\"api forbidden\",\"chatdata\":[]}";
        set_slice(chatDatas, copy_string(denied), (int)strlen(denied));
        return 0;
    }
    size_t cap = 128, used = 0;
    char *out = malloc(cap);
    used += (size_t)sprintf(out, "{\"errcode\":0,\"errmsg\":\"ok\",\"chatdata\":[");
    unsigned long long s;
    unsigned int count = 0;
    for (s = seq + 1; s <= available_seq && count < limit; s++, count++) {
        char plain[512];
        snprintf(plain, sizeof plain,
                 "{\"msgid\":\"msg-%llu\",\"action\":\"send\",\"from\":\"zhangsan\","
                 "\"tolist\":[\"lisi\",\"wmExternalCustomer0001\"],\"roomid\":\"wrRoom01\","
                 "\"msgtime\":1700000000000,\"msgtype\":\"text\","
                 "\"text\":{\"content\":\"第%llu条消息\"}}",
                 s, s);
        char *encrypted = fake_encrypt_c(chat_key, plain);
        const char *rk = random_key_b64 ? random_key_b64 : "";
        size_t need = strlen(encrypted) + strlen(rk) + 256;
        if (used + need > cap) {
            cap = (used + need) * 2;
            out = realloc(out, cap);
        }
        used += (size_t)sprintf(out + used,
                                "%s{\"seq\":%llu,\"msgid\":\"msg-%llu\",\"publickey_ver\":%d,"
                                "\"encrypt_random_key\":\"%s\",\"encrypt_chat_msg\":\"%s\"}",
                                count ? "," : "", s, s, record_ver, rk, encrypted);
        free(encrypted);
    }
    if (used + 3 > cap) out = realloc(out, used + 3);
    used += (size_t)sprintf(out + used, "]}");
    set_slice(chatDatas, out, (int)used);
    return 0;
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

int DecryptData(const char *encrypt_key, const char *encrypt_msg, Slice_t *msg) {
    decrypt_calls++;
    if (!encrypt_msg || strlen(encrypt_msg) < 13) return 99999; /* the real SDK aborts here */
    if (!encrypt_key || !*encrypt_key) return 10008;
    size_t hlen = strlen(encrypt_msg), klen = strlen(encrypt_key), n = hlen / 2, i;
    if (hlen % 2) return 10000;
    char *clear = malloc(n + 1);
    for (i = 0; i < n; i++) {
        int hi = hex_value(encrypt_msg[2 * i]), lo = hex_value(encrypt_msg[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(clear);
            return 10000;
        }
        clear[i] = (char)(((hi << 4) | lo) ^ (unsigned char)encrypt_key[i % klen]);
    }
    clear[n] = '\0';
    if (n < 3 || memcmp(clear, "OK:", 3) != 0) {
        free(clear);
        return 10006;
    }
    memmove(clear, clear + 3, n - 3 + 1);
    set_slice(msg, clear, (int)(n - 3));
    return 0;
}
