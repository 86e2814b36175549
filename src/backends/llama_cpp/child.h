/* llama-server as a child process: started with posix_spawn (its output
 * goes to an unlinked temporary log file, never to our stdout/stderr),
 * watched for early exit, and stopped with SIGTERM then SIGKILL. */
#ifndef INF_LLAMA_CPP_CHILD_H
#define INF_LLAMA_CPP_CHILD_H

#include <pthread.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct inf__child {
    pid_t pid;
    int log_fd;          /* the child's stdout + stderr (unlinked file) */
    pthread_mutex_t mu;  /* guards reaping: diagnosis may run on any thread */
    int exited;          /* reaped; status below */
    int wstatus;
} inf__child;

/* Starts argv[0] (a path) with argv and our environment, where each
 * "NAME=VALUE" of extra_env (NULL-terminated; may be NULL) replaces or adds
 * that variable (secrets go there rather than on the command line, which
 * every local user can read in /proc/PID/cmdline).  Returns 0 and fills *c,
 * or an errno value. */
int inf__child_start(inf__child *c, char *const argv[],
                     const char *const extra_env[]);
/* 1 when the child has exited (reaping it), else 0.  Thread-safe. */
int inf__child_exited(inf__child *c);
/* Describes how it exited ("exit status 1", "killed by signal 9") into
 * buf[size]. */
void inf__child_describe_exit(const inf__child *c, char *buf, size_t size);
/* The last max_lines lines of its output, joined with " | ", into
 * buf[size] ("" when none). */
void inf__child_log_tail(const inf__child *c, int max_lines, char *buf,
                         size_t size);
/* Stops it: SIGTERM, then SIGKILL after grace_ms; reaps it; closes the
 * log.  Safe to call once on a started child. */
void inf__child_stop(inf__child *c, int grace_ms);

/* A TCP port on 127.0.0.1 that was free a moment ago (bound with port 0
 * and released), or -1.  Another local process may take it before the
 * child binds it: the caller must check who answers there (llama_cpp.c). */
int inf__free_loopback_port(void);

/* n_bytes random bytes from the kernel (getrandom, else /dev/urandom) as
 * 2 * n_bytes lowercase hex digits and a NUL in out.  Returns 0 or an errno
 * value. */
int inf__random_hex(char *out, size_t n_bytes);

/* The full path of an executable: `name` itself when it contains a '/',
 * else the first regular, executable file NAME in the $PATH entries, in
 * order; an empty entry (a leading, doubled or trailing ':') stands for the
 * current directory and gives "./NAME", as for execvp; an unset or empty
 * PATH finds nothing.  Returns a malloc'd string or NULL. */
char *inf__find_executable(const char *name);

#endif
