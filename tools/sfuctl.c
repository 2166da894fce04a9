/* sfuctl: drive an sfu-worker's control API from the command line.
 *
 * One request per run: a named subcommand (or `raw` JSON) is turned into one
 * JSON object, sent on a nanomsg REQ socket to --control, and the reply is
 * printed pretty on stdout. `events` tails the PUB stream at --events instead.
 * The exact wire format is in docs/control-api.md.
 *
 * Exit status: 0 reply had "ok":true (or events ended normally), 1 reply had
 * "ok":false, 2 usage error, no reply within --timeout, or unreadable reply.
 *
 * Single-threaded; everything here lives for the process's lifetime, so the
 * few allocations are freed on the normal paths only for valgrind's sake. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <nanomsg/nn.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/reqrep.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SFUCTL_DEFAULT_CONTROL "tcp://127.0.0.1:7700"
#define SFUCTL_DEFAULT_EVENTS "tcp://127.0.0.1:7701"
#define SFUCTL_DEFAULT_TIMEOUT_MS 5000
#define SFUCTL_MAX_POS 128     /* batch-create-attendee takes up to 100 users */
#define SFUCTL_MAX_INPUT (16u << 20) /* stdin / SDP file cap */

enum { EXIT_OK = 0, EXIT_REFUSED = 1, EXIT_USAGE = 2 };

/* Subcommand options. One flag name may mean different JSON fields in
 * different commands (--video is a MaxResolution for create-meeting and a
 * capability for create-attendee); the handler decides. */
typedef enum {
    OPT_EXTERNAL_ID,
    OPT_MEETING_ID,
    OPT_VIDEO,
    OPT_CONTENT,
    OPT_AUDIO,
    OPT_MAX_ATTENDEES,
    OPT_PRIMARY,
    OPT_MAX_RESULTS,
    OPT_NEXT_TOKEN,
    OPT_COUNT,
    OPT_RECEIVE,
    OPT_MAX_RECEIVE_KBPS,
    OPT_LIFETIME_MS,
    OPT__N
} sfuctl_opt_t;

static const char *const opt_names[OPT__N] = {
    [OPT_EXTERNAL_ID] = "external-id", [OPT_MEETING_ID] = "meeting-id",
    [OPT_VIDEO] = "video",             [OPT_CONTENT] = "content",
    [OPT_AUDIO] = "audio",             [OPT_MAX_ATTENDEES] = "max-attendees",
    [OPT_PRIMARY] = "primary",         [OPT_MAX_RESULTS] = "max-results",
    [OPT_NEXT_TOKEN] = "next-token",   [OPT_COUNT] = "count",
    [OPT_RECEIVE] = "receive",         [OPT_MAX_RECEIVE_KBPS] = "max-receive-kbps",
    [OPT_LIFETIME_MS] = "lifetime-ms",
};

#define OPTBIT(o) (1u << (o))
#define CAPS_OPTS (OPTBIT(OPT_AUDIO) | OPTBIT(OPT_VIDEO) | OPTBIT(OPT_CONTENT))

/* Global settings plus one subcommand's parsed arguments. Stack-owned by
 * main(); the strings point into argv. */
typedef struct {
    const char *control;
    const char *events;
    int timeout_ms;
    bool timeout_set;
    const char *pos[SFUCTL_MAX_POS];
    int npos;
    const char *opt[OPT__N];
} sfuctl_args_t;

/* Builds the request for one subcommand into *out (or runs it, for events).
 * Returns 0, or EXIT_USAGE after printing why. */
typedef int (*sfuctl_build_cb)(const sfuctl_args_t *a, cJSON **out);

typedef struct {
    const char *name;
    const char *op;       /* JSON "op", NULL for raw/events */
    const char *synopsis; /* arguments after the command name */
    const char *help;
    int min_pos, max_pos;
    unsigned opts; /* OPTBIT set */
    sfuctl_build_cb build;
} sfuctl_cmd_t;

/* ---- small helpers ---------------------------------------------------- */

static void die_oom(void)
{
    fputs("sfuctl: out of memory\n", stderr);
    exit(EXIT_USAGE);
}

static int parse_int(const char *what, const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        fprintf(stderr, "sfuctl: %s: expected an integer %ld..%ld, got '%s'\n", what, min,
                max, s);
        return EXIT_USAGE;
    }
    *out = v;
    return 0;
}

/* Reads a whole file ("-" = stdin) into a NUL-terminated heap buffer. */
static char *read_all(const char *path, size_t *len_out)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "sfuctl: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        die_oom();
    for (;;) {
        if (len + 1 >= cap) {
            if (cap >= SFUCTL_MAX_INPUT) {
                fprintf(stderr, "sfuctl: %s: larger than %u bytes\n", path,
                        SFUCTL_MAX_INPUT);
                free(buf);
                buf = NULL;
                break;
            }
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb)
                die_oom();
            buf = nb;
        }
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0) {
            if (ferror(f)) {
                fprintf(stderr, "sfuctl: %s: read error\n", path);
                free(buf);
                buf = NULL;
            }
            break;
        }
    }
    if (f != stdin)
        fclose(f);
    if (buf) {
        buf[len] = '\0';
        if (len_out)
            *len_out = len;
    }
    return buf;
}

static cJSON *new_request(const char *op)
{
    cJSON *req = cJSON_CreateObject();
    if (!req || !cJSON_AddStringToObject(req, "op", op))
        die_oom();
    return req;
}

static void add_str(cJSON *o, const char *k, const char *v)
{
    if (!cJSON_AddStringToObject(o, k, v))
        die_oom();
}

static cJSON *add_obj(cJSON *o, const char *k)
{
    cJSON *c = cJSON_GetObjectItemCaseSensitive(o, k);
    if (c)
        return c;
    c = cJSON_AddObjectToObject(o, k);
    if (!c)
        die_oom();
    return c;
}

/* Capabilities object from --audio/--video/--content, or NULL if none was
 * given (the worker then defaults all three to SendReceive). A partial set is
 * sent as is: the worker defaults or refuses the rest, per op. */
static cJSON *caps_from_opts(const sfuctl_args_t *a)
{
    if (!a->opt[OPT_AUDIO] && !a->opt[OPT_VIDEO] && !a->opt[OPT_CONTENT])
        return NULL;
    cJSON *c = cJSON_CreateObject();
    if (!c)
        die_oom();
    if (a->opt[OPT_AUDIO])
        add_str(c, "Audio", a->opt[OPT_AUDIO]);
    if (a->opt[OPT_VIDEO])
        add_str(c, "Video", a->opt[OPT_VIDEO]);
    if (a->opt[OPT_CONTENT])
        add_str(c, "Content", a->opt[OPT_CONTENT]);
    return c;
}

/* ---- request builders ------------------------------------------------- */

static int build_create_meeting(const sfuctl_args_t *a, cJSON **out)
{
    if (!a->opt[OPT_EXTERNAL_ID]) {
        fputs("sfuctl: create-meeting: --external-id is required\n", stderr);
        return EXIT_USAGE;
    }
    long max = 0;
    if (a->opt[OPT_MAX_ATTENDEES] &&
        parse_int("--max-attendees", a->opt[OPT_MAX_ATTENDEES], 0, 1000000, &max))
        return EXIT_USAGE;
    long kbps = 0;
    if (a->opt[OPT_MAX_RECEIVE_KBPS] &&
        parse_int("--max-receive-kbps", a->opt[OPT_MAX_RECEIVE_KBPS], 0, 1000000, &kbps))
        return EXIT_USAGE;
    cJSON *req = new_request("CreateMeeting");
    add_str(req, "ExternalMeetingId", a->opt[OPT_EXTERNAL_ID]);
    if (a->opt[OPT_MEETING_ID])
        add_str(req, "MeetingId", a->opt[OPT_MEETING_ID]);
    if (a->opt[OPT_PRIMARY])
        add_str(req, "PrimaryMeetingId", a->opt[OPT_PRIMARY]);
    if (a->opt[OPT_VIDEO] || a->opt[OPT_CONTENT] || a->opt[OPT_MAX_ATTENDEES] ||
        a->opt[OPT_MAX_RECEIVE_KBPS]) {
        cJSON *f = add_obj(req, "MeetingFeatures");
        if (a->opt[OPT_VIDEO])
            add_str(add_obj(f, "Video"), "MaxResolution", a->opt[OPT_VIDEO]);
        if (a->opt[OPT_MAX_RECEIVE_KBPS] &&
            !cJSON_AddNumberToObject(add_obj(f, "Video"), "MaxReceiveKbps", (double)kbps))
            die_oom();
        if (a->opt[OPT_CONTENT])
            add_str(add_obj(f, "Content"), "MaxResolution", a->opt[OPT_CONTENT]);
        if (a->opt[OPT_MAX_ATTENDEES] &&
            !cJSON_AddNumberToObject(add_obj(f, "Attendee"), "MaxCount", (double)max))
            die_oom();
    }
    *out = req;
    return 0;
}

/* Ops whose positionals map one to one onto string fields. */
static int build_by_position(const sfuctl_args_t *a, const char *op,
                             const char *const *fields, cJSON **out)
{
    cJSON *req = new_request(op);
    for (int i = 0; i < a->npos && fields[i]; i++)
        add_str(req, fields[i], a->pos[i]);
    *out = req;
    return 0;
}

static const char *const f_meeting[] = {"MeetingId", NULL};
static const char *const f_attendee[] = {"MeetingId", "AttendeeId", NULL};
static const char *const f_none[] = {NULL};

static int build_get_meeting(const sfuctl_args_t *a, cJSON **out)
{
    return build_by_position(a, "GetMeeting", f_meeting, out);
}

static int build_list_meetings(const sfuctl_args_t *a, cJSON **out)
{
    return build_by_position(a, "ListMeetings", f_none, out);
}

static int build_delete_meeting(const sfuctl_args_t *a, cJSON **out)
{
    return build_by_position(a, "DeleteMeeting", f_meeting, out);
}

static int build_get_attendee(const sfuctl_args_t *a, cJSON **out)
{
    return build_by_position(a, "GetAttendee", f_attendee, out);
}

static int build_delete_attendee(const sfuctl_args_t *a, cJSON **out)
{
    return build_by_position(a, "DeleteAttendee", f_attendee, out);
}

static int build_leave_meeting(const sfuctl_args_t *a, cJSON **out)
{
    return build_by_position(a, "LeaveMeeting", f_attendee, out);
}

static int build_attendee_stats(const sfuctl_args_t *a, cJSON **out)
{
    return build_by_position(a, "GetAttendeeStats", f_attendee, out);
}

static int build_stream_index(const sfuctl_args_t *a, cJSON **out)
{
    return build_by_position(a, "GetStreamIndex", f_meeting, out);
}

/* send-data MEETING_ID TOPIC DATA|- [--lifetime-ms N]: DATA as given, or stdin for "-"
 * (one trailing newline removed). The worker checks the rules (docs/data-messages.md):
 * sfuctl passes what it is given, so that an operator sees the worker's own answer. */
static int build_send_data(const sfuctl_args_t *a, cJSON **out)
{
    long life = 0;
    if (a->opt[OPT_LIFETIME_MS] &&
        parse_int("--lifetime-ms", a->opt[OPT_LIFETIME_MS], 0, 1000000000L, &life))
        return EXIT_USAGE;
    char *heap = NULL;
    const char *data = a->pos[2];
    if (strcmp(data, "-") == 0) {
        size_t n = 0;
        heap = read_all("-", &n);
        if (!heap)
            return EXIT_USAGE;
        if (n && heap[n - 1] == '\n')
            heap[n - 1] = 0;
        data = heap;
    }
    cJSON *req = new_request("SendDataMessage");
    add_str(req, "MeetingId", a->pos[0]);
    add_str(req, "Topic", a->pos[1]);
    add_str(req, "Data", data);
    if (a->opt[OPT_LIFETIME_MS] && !cJSON_AddNumberToObject(req, "LifetimeMs", (double)life))
        die_oom();
    free(heap);
    *out = req;
    return 0;
}

static int build_stats(const sfuctl_args_t *a, cJSON **out)
{
    return build_by_position(a, "GetWorkerStats", f_none, out);
}

static int build_create_attendee(const sfuctl_args_t *a, cJSON **out)
{
    cJSON *req = new_request("CreateAttendee");
    add_str(req, "MeetingId", a->pos[0]);
    add_str(req, "ExternalUserId", a->pos[1]);
    cJSON *caps = caps_from_opts(a);
    if (caps)
        cJSON_AddItemToObject(req, "Capabilities", caps);
    *out = req;
    return 0;
}

static int build_batch_create_attendee(const sfuctl_args_t *a, cJSON **out)
{
    cJSON *req = new_request("BatchCreateAttendee");
    add_str(req, "MeetingId", a->pos[0]);
    cJSON *arr = cJSON_AddArrayToObject(req, "Attendees");
    if (!arr)
        die_oom();
    for (int i = 1; i < a->npos; i++) {
        cJSON *item = cJSON_CreateObject();
        if (!item)
            die_oom();
        add_str(item, "ExternalUserId", a->pos[i]);
        cJSON *caps = caps_from_opts(a);
        if (caps)
            cJSON_AddItemToObject(item, "Capabilities", caps);
        cJSON_AddItemToArray(arr, item);
    }
    *out = req;
    return 0;
}

static int build_list_attendees(const sfuctl_args_t *a, cJSON **out)
{
    long max = 0;
    if (a->opt[OPT_MAX_RESULTS] &&
        parse_int("--max-results", a->opt[OPT_MAX_RESULTS], 0, 1000000, &max))
        return EXIT_USAGE;
    cJSON *req = new_request("ListAttendees");
    add_str(req, "MeetingId", a->pos[0]);
    if (a->opt[OPT_MAX_RESULTS] && !cJSON_AddNumberToObject(req, "MaxResults", (double)max))
        die_oom();
    if (a->opt[OPT_NEXT_TOKEN])
        add_str(req, "NextToken", a->opt[OPT_NEXT_TOKEN]);
    *out = req;
    return 0;
}

static int build_update_caps(const sfuctl_args_t *a, cJSON **out)
{
    if (!a->opt[OPT_AUDIO] || !a->opt[OPT_VIDEO] || !a->opt[OPT_CONTENT]) {
        fputs("sfuctl: update-attendee-capabilities: --audio, --video and --content are "
              "all required\n",
              stderr);
        return EXIT_USAGE;
    }
    cJSON *req = new_request("UpdateAttendeeCapabilities");
    add_str(req, "MeetingId", a->pos[0]);
    add_str(req, "AttendeeId", a->pos[1]);
    cJSON_AddItemToObject(req, "Capabilities", caps_from_opts(a));
    *out = req;
    return 0;
}

/* --receive "1,2:0,7": StreamIds, each optionally ":MaxLayer" (0 = lowest). An empty
 * value is an empty array (receive nothing). The worker checks ranges and duplicates. */
static cJSON *receive_from_opt(const char *list)
{
    cJSON *arr = cJSON_CreateArray();
    if (!arr)
        die_oom();
    const char *p = list;
    while (*p) {
        char *end;
        errno = 0;
        long id = strtol(p, &end, 10);
        long layer = -1;
        if (errno || end == p)
            goto bad;
        if (*end == ':') {
            p = end + 1;
            layer = strtol(p, &end, 10);
            if (errno || end == p)
                goto bad;
        }
        if (*end && *end != ',')
            goto bad;
        cJSON *item = layer < 0 ? cJSON_CreateNumber((double)id) : cJSON_CreateObject();
        if (!item)
            die_oom();
        if (layer >= 0 && (!cJSON_AddNumberToObject(item, "StreamId", (double)id) ||
                           !cJSON_AddNumberToObject(item, "MaxLayer", (double)layer)))
            die_oom();
        cJSON_AddItemToArray(arr, item);
        p = *end ? end + 1 : end;
    }
    return arr;
bad:
    fprintf(stderr, "sfuctl: --receive: expected ID[:MAXLAYER][,...], got '%s'\n", list);
    cJSON_Delete(arr);
    return NULL;
}

static int build_subscribe(const sfuctl_args_t *a, cJSON **out)
{
    char *sdp = read_all(a->pos[3], NULL);
    if (!sdp)
        return EXIT_USAGE;
    cJSON *req = new_request("Subscribe");
    add_str(req, "MeetingId", a->pos[0]);
    add_str(req, "AttendeeId", a->pos[1]);
    add_str(req, "JoinToken", a->pos[2]);
    add_str(req, "SdpOffer", sdp);
    free(sdp);
    if (a->opt[OPT_RECEIVE]) {
        cJSON *ids = receive_from_opt(a->opt[OPT_RECEIVE]);
        if (!ids) {
            cJSON_Delete(req);
            return EXIT_USAGE;
        }
        cJSON_AddItemToObject(req, "ReceiveStreamIds", ids);
    }
    *out = req;
    return 0;
}

/* raw: the argument (or stdin) must parse as a JSON object. It is re-printed
 * before sending, so what goes on the wire is exactly that object. */
static int build_raw(const sfuctl_args_t *a, cJSON **out)
{
    char *heap = NULL;
    const char *text = a->pos[0];
    if (strcmp(text, "-") == 0) {
        heap = read_all("-", NULL);
        if (!heap)
            return EXIT_USAGE;
        text = heap;
    }
    cJSON *req = cJSON_Parse(text);
    free(heap);
    if (!cJSON_IsObject(req)) {
        fputs("sfuctl: raw: argument is not a JSON object\n", stderr);
        cJSON_Delete(req);
        return EXIT_USAGE;
    }
    *out = req;
    return 0;
}

/* ---- transport -------------------------------------------------------- */

static int nn_fail(const char *what, const char *url)
{
    fprintf(stderr, "sfuctl: %s%s%s: %s\n", what, url ? " " : "", url ? url : "",
            nn_strerror(nn_errno()));
    return EXIT_USAGE;
}

static void set_timeouts(int sock, int ms)
{
    int max = -1; /* replies such as ListMeetings may exceed the 1 MiB default */
    nn_setsockopt(sock, NN_SOL_SOCKET, NN_RCVTIMEO, &ms, sizeof ms);
    nn_setsockopt(sock, NN_SOL_SOCKET, NN_SNDTIMEO, &ms, sizeof ms);
    nn_setsockopt(sock, NN_SOL_SOCKET, NN_RCVMAXSIZE, &max, sizeof max);
}

/* Prints the reply; returns the exit status it implies. */
static int print_reply(const char *buf, int len)
{
    cJSON *rep = cJSON_ParseWithLength(buf, (size_t)len);
    cJSON *ok = cJSON_GetObjectItemCaseSensitive(rep, "ok");
    if (!cJSON_IsObject(rep) || !cJSON_IsBool(ok)) {
        fprintf(stderr, "sfuctl: reply is not a JSON object with \"ok\": %.*s\n", len, buf);
        cJSON_Delete(rep);
        return EXIT_USAGE;
    }
    char *pretty = cJSON_Print(rep);
    if (!pretty)
        die_oom();
    puts(pretty);
    cJSON_free(pretty);
    int rc = EXIT_OK;
    if (cJSON_IsFalse(ok)) {
        cJSON *err = cJSON_GetObjectItemCaseSensitive(rep, "error");
        cJSON *code = cJSON_GetObjectItemCaseSensitive(err, "code");
        cJSON *msg = cJSON_GetObjectItemCaseSensitive(err, "message");
        fprintf(stderr, "sfuctl: %s: %s\n",
                cJSON_IsString(code) ? code->valuestring : "(no code)",
                cJSON_IsString(msg) ? msg->valuestring : "(no message)");
        rc = EXIT_REFUSED;
    }
    cJSON_Delete(rep);
    return rc;
}

static int do_request(const sfuctl_args_t *a, cJSON *req)
{
    char *text = cJSON_PrintUnformatted(req);
    if (!text)
        die_oom();
    int rc = EXIT_USAGE;
    int sock = nn_socket(AF_SP, NN_REQ);
    if (sock < 0) {
        cJSON_free(text);
        return nn_fail("nn_socket", NULL);
    }
    set_timeouts(sock, a->timeout_ms);
    if (nn_connect(sock, a->control) < 0) {
        rc = nn_fail("cannot connect to", a->control);
        goto out;
    }
    if (nn_send(sock, text, strlen(text), 0) < 0) {
        rc = nn_fail("send to", a->control);
        goto out;
    }
    char *buf = NULL;
    int n = nn_recv(sock, &buf, NN_MSG, 0);
    if (n < 0) {
        if (nn_errno() == ETIMEDOUT)
            fprintf(stderr, "sfuctl: no reply from %s within %d ms\n", a->control,
                    a->timeout_ms);
        else
            nn_fail("receive from", a->control);
        goto out;
    }
    rc = print_reply(buf, n);
    nn_freemsg(buf);
out:
    cJSON_free(text);
    nn_close(sock);
    return rc;
}

static volatile sig_atomic_t stop_events;

static void on_signal(int sig)
{
    (void)sig;
    stop_events = 1;
}

/* Prints one event on one line: compact JSON if it parses, else as is. */
static void print_event(const char *buf, int len)
{
    cJSON *ev = cJSON_ParseWithLength(buf, (size_t)len);
    char *line = ev ? cJSON_PrintUnformatted(ev) : NULL;
    if (line)
        puts(line);
    else
        printf("%.*s\n", len, buf);
    fflush(stdout);
    cJSON_free(line);
    cJSON_Delete(ev);
}

/* events: tail the PUB stream. Ends on SIGINT/SIGTERM (exit 0), after
 * --count events (exit 0), or after --timeout ms without an event (exit 0
 * without --count, 2 with an unmet --count). */
static int run_events(const sfuctl_args_t *a)
{
    long count = 0;
    if (a->opt[OPT_COUNT] && parse_int("--count", a->opt[OPT_COUNT], 1, 1L << 40, &count))
        return EXIT_USAGE;
    struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: nn_recv returns EINTR */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int sock = nn_socket(AF_SP, NN_SUB);
    if (sock < 0)
        return nn_fail("nn_socket", NULL);
    int rc = EXIT_OK;
    set_timeouts(sock, a->timeout_set ? a->timeout_ms : -1);
    if (nn_setsockopt(sock, NN_SUB, NN_SUB_SUBSCRIBE, "", 0) < 0 ||
        nn_connect(sock, a->events) < 0) {
        rc = nn_fail("cannot subscribe to", a->events);
        goto out;
    }
    for (long seen = 0; !stop_events && (count == 0 || seen < count); seen++) {
        char *buf = NULL;
        int n = nn_recv(sock, &buf, NN_MSG, 0);
        if (n < 0) {
            int e = nn_errno();
            if (e == ETIMEDOUT) {
                fprintf(stderr, "sfuctl: no event within %d ms\n", a->timeout_ms);
                rc = count ? EXIT_USAGE : EXIT_OK;
            } else if (e != EINTR && e != EBADF) {
                rc = nn_fail("receive from", a->events);
            }
            break;
        }
        print_event(buf, n);
        nn_freemsg(buf);
    }
out:
    nn_close(sock);
    return rc;
}

static int build_events(const sfuctl_args_t *a, cJSON **out)
{
    *out = NULL;
    return run_events(a);
}

/* ---- command table and argument parsing ------------------------------- */

static const sfuctl_cmd_t cmds[] = {
    {"create-meeting", "CreateMeeting",
     "--external-id X [--meeting-id UUID] [--video None|HD|FHD] [--content None|FHD|UHD] "
     "[--max-attendees N] [--max-receive-kbps N] [--primary UUID]",
     "Create a meeting (a replica of --primary if given).", 0, 0,
     OPTBIT(OPT_EXTERNAL_ID) | OPTBIT(OPT_MEETING_ID) | OPTBIT(OPT_VIDEO) |
         OPTBIT(OPT_CONTENT) | OPTBIT(OPT_MAX_ATTENDEES) | OPTBIT(OPT_PRIMARY) |
         OPTBIT(OPT_MAX_RECEIVE_KBPS),
     build_create_meeting},
    {"get-meeting", "GetMeeting", "MEETING_ID", "Show one meeting.", 1, 1, 0,
     build_get_meeting},
    {"list-meetings", "ListMeetings", "", "List every meeting on the worker.", 0, 0, 0,
     build_list_meetings},
    {"delete-meeting", "DeleteMeeting", "MEETING_ID",
     "End a meeting, its attendees and its replicas.", 1, 1, 0, build_delete_meeting},
    {"create-attendee", "CreateAttendee",
     "MEETING_ID EXTERNAL_USER_ID [--audio C] [--video C] [--content C]",
     "Add an attendee; C is SendReceive|Send|Receive|None (default SendReceive).", 2, 2,
     CAPS_OPTS, build_create_attendee},
    {"batch-create-attendee", "BatchCreateAttendee",
     "MEETING_ID EXTERNAL_USER_ID... [--audio C] [--video C] [--content C]",
     "Add several attendees in one call (capabilities apply to each).", 2, SFUCTL_MAX_POS,
     CAPS_OPTS, build_batch_create_attendee},
    {"get-attendee", "GetAttendee", "MEETING_ID ATTENDEE_ID", "Show one attendee.", 2, 2, 0,
     build_get_attendee},
    {"list-attendees", "ListAttendees", "MEETING_ID [--max-results N] [--next-token T]",
     "List a meeting's attendees, a page at a time.", 1, 1,
     OPTBIT(OPT_MAX_RESULTS) | OPTBIT(OPT_NEXT_TOKEN), build_list_attendees},
    {"delete-attendee", "DeleteAttendee", "MEETING_ID ATTENDEE_ID",
     "Remove an attendee; its JoinToken stops working.", 2, 2, 0, build_delete_attendee},
    {"update-attendee-capabilities", "UpdateAttendeeCapabilities",
     "MEETING_ID ATTENDEE_ID --audio C --video C --content C",
     "Change an attendee's capabilities (all three required).", 2, 2, CAPS_OPTS,
     build_update_caps},
    {"subscribe", "Subscribe",
     "MEETING_ID ATTENDEE_ID JOIN_TOKEN SDP_FILE|- [--receive ID[:MAXLAYER],...]",
     "Send an SDP offer (file or stdin) and print the answer; --receive picks the "
     "video streams to receive.",
     4, 4, OPTBIT(OPT_RECEIVE), build_subscribe},
    {"stream-index", "GetStreamIndex", "MEETING_ID",
     "Show a meeting's published video streams (its StreamIndex).", 1, 1, 0,
     build_stream_index},
    {"leave-meeting", "LeaveMeeting", "MEETING_ID ATTENDEE_ID",
     "Close an attendee's media transport (the attendee stays).", 2, 2, 0,
     build_leave_meeting},
    {"send-data", "SendDataMessage", "MEETING_ID TOPIC DATA|- [--lifetime-ms N]",
     "Send a data message into a meeting as sender \"sfu\" (DATA, or stdin for -); "
     "with --lifetime-ms it is kept for attendees who join later.",
     3, 3, OPTBIT(OPT_LIFETIME_MS), build_send_data},
    {"attendee-stats", "GetAttendeeStats", "MEETING_ID ATTENDEE_ID",
     "Show one attendee's transport figures.", 2, 2, 0, build_attendee_stats},
    {"stats", "GetWorkerStats", "", "Show worker and per-loop figures.", 0, 0, 0,
     build_stats},
    {"raw", NULL, "'<json object>' | -",
     "Send any JSON object as the request (- reads it from stdin).", 1, 1, 0, build_raw},
    {"events", NULL, "[--count N]",
     "Print events from --events, one JSON per line, until interrupted, N events, or "
     "--timeout ms of silence.",
     0, 0, OPTBIT(OPT_COUNT), build_events},
};
static const size_t ncmds = sizeof cmds / sizeof cmds[0];

static void usage_cmd(FILE *f, const sfuctl_cmd_t *c)
{
    fprintf(f, "usage: sfuctl [global options] %s %s\n  %s\n", c->name, c->synopsis, c->help);
    if (c->op)
        fprintf(f, "  Sends {\"op\":\"%s\", ...}; see docs/control-api.md.\n", c->op);
}

static void usage(FILE *f)
{
    fputs("usage: sfuctl [--control URL] [--events URL] [--timeout MS] <command> [args]\n"
          "\n"
          "Global options:\n"
          "  --control URL   worker's nanomsg REP address (default " SFUCTL_DEFAULT_CONTROL
          ")\n"
          "  --events URL    worker's nanomsg PUB address (default " SFUCTL_DEFAULT_EVENTS
          ")\n"
          "  --timeout MS    give up after MS ms without a reply (default 5000; for\n"
          "                  'events': stop after MS ms without an event, default never)\n"
          "  --help          this text; 'sfuctl <command> --help' for one command\n"
          "\n"
          "Commands:\n",
          f);
    for (size_t i = 0; i < ncmds; i++)
        fprintf(f, "  %-29s %s\n", cmds[i].name, cmds[i].help);
    fputs("\nExit status: 0 ok, 1 the worker refused (ok:false), 2 usage error or no reply.\n",
          f);
}

static const sfuctl_cmd_t *find_cmd(const char *name)
{
    for (size_t i = 0; i < ncmds; i++)
        if (strcmp(cmds[i].name, name) == 0)
            return &cmds[i];
    return NULL;
}

/* Splits "--name=value" / "--name value"; returns the option or -1. */
static int match_opt(const char *arg, unsigned allowed, const char **inline_val)
{
    const char *name = arg + 2;
    const char *eq = strchr(name, '=');
    size_t n = eq ? (size_t)(eq - name) : strlen(name);
    *inline_val = eq ? eq + 1 : NULL;
    for (int o = 0; o < OPT__N; o++)
        if ((allowed & OPTBIT(o)) && strlen(opt_names[o]) == n &&
            strncmp(opt_names[o], name, n) == 0)
            return o;
    return -1;
}

/* Parses a subcommand's arguments (argv[0] is the first one after the name). */
static int parse_cmd_args(const sfuctl_cmd_t *c, int argc, char **argv, sfuctl_args_t *a)
{
    bool only_pos = false;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (!only_pos && strcmp(arg, "--") == 0) {
            only_pos = true;
        } else if (!only_pos && (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)) {
            usage_cmd(stdout, c);
            exit(EXIT_OK);
        } else if (!only_pos && strncmp(arg, "--", 2) == 0) {
            const char *val;
            int o = match_opt(arg, c->opts, &val);
            if (o < 0) {
                fprintf(stderr, "sfuctl: %s: unknown option %s\n", c->name, arg);
                return EXIT_USAGE;
            }
            if (!val && i + 1 >= argc) {
                fprintf(stderr, "sfuctl: %s: %s needs a value\n", c->name, arg);
                return EXIT_USAGE;
            }
            a->opt[o] = val ? val : argv[++i];
        } else if (a->npos < SFUCTL_MAX_POS) {
            a->pos[a->npos++] = arg;
        } else {
            fprintf(stderr, "sfuctl: %s: too many arguments\n", c->name);
            return EXIT_USAGE;
        }
    }
    if (a->npos < c->min_pos || a->npos > c->max_pos) {
        fprintf(stderr, "sfuctl: %s: wrong number of arguments\n", c->name);
        usage_cmd(stderr, c);
        return EXIT_USAGE;
    }
    return 0;
}

/* Parses the global options; returns the index of the command name. */
static int parse_global(int argc, char **argv, sfuctl_args_t *a)
{
    int i = 1;
    for (; i < argc && strncmp(argv[i], "-", 1) == 0; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout);
            exit(EXIT_OK);
        }
        const char **dst = strcmp(arg, "--control") == 0  ? &a->control
                           : strcmp(arg, "--events") == 0 ? &a->events
                                                          : NULL;
        bool is_timeout = strcmp(arg, "--timeout") == 0;
        if ((!dst && !is_timeout) || i + 1 >= argc) {
            fprintf(stderr, "sfuctl: %s %s\n", arg,
                    dst || is_timeout ? "needs a value" : "is not a global option");
            return -1;
        }
        const char *val = argv[++i];
        if (dst) {
            *dst = val;
        } else {
            long ms;
            if (parse_int("--timeout", val, 1, 24L * 3600 * 1000, &ms))
                return -1;
            a->timeout_ms = (int)ms;
            a->timeout_set = true;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return -1;
    }
    return i;
}

int main(int argc, char **argv)
{
    sfuctl_args_t a = {
        .control = SFUCTL_DEFAULT_CONTROL,
        .events = SFUCTL_DEFAULT_EVENTS,
        .timeout_ms = SFUCTL_DEFAULT_TIMEOUT_MS,
    };
    int ci = parse_global(argc, argv, &a);
    if (ci < 0)
        return EXIT_USAGE;
    if (strcmp(argv[ci], "help") == 0) {
        const sfuctl_cmd_t *c = ci + 1 < argc ? find_cmd(argv[ci + 1]) : NULL;
        if (c)
            usage_cmd(stdout, c);
        else
            usage(stdout);
        return EXIT_OK;
    }
    const sfuctl_cmd_t *c = find_cmd(argv[ci]);
    if (!c) {
        fprintf(stderr, "sfuctl: unknown command '%s' (try --help)\n", argv[ci]);
        return EXIT_USAGE;
    }
    if (parse_cmd_args(c, argc - ci - 1, argv + ci + 1, &a))
        return EXIT_USAGE;
    cJSON *req = NULL;
    int rc = c->build(&a, &req);
    if (rc || !req)
        return rc;
    rc = do_request(&a, req);
    cJSON_Delete(req);
    return rc;
}
