/* The "llama_cpp" backend: a GGUF model served by llama.cpp's llama-server,
 * which the backend starts as a child process and then uses through the
 * "openai" backend's client (inf__openai_connect).
 *
 *  - The binary: $INFERENCE_LLAMA_SERVER (a path, or a name looked up on
 *    PATH), else `llama-server` on PATH.  available() is 0 with the reason
 *    when neither gives an executable.  scripts/build-llama-cpp.sh builds
 *    one into .cache/llama.cpp/build/bin.
 *  - load(path of a .gguf): the header is checked first (INF_E_NOT_FOUND,
 *    INF_E_FORMAT); the child gets -m PATH --host 127.0.0.1 --port (a free
 *    loopback port) --alias (general.name or the file name) --n-gpu-layers
 *    (gpu_layers; -1 = all = 999), and --ctx-size / --parallel / --threads
 *    when context_length / parallel_slots / n_threads are > 0.  Its stdout
 *    and stderr go to an unlinked temporary file, never to ours.
 *  - The child runs with a random API key (32 bytes from getrandom, or
 *    /dev/urandom, as hex), new for each load, given in its environment as
 *    $LLAMA_API_KEY (llama-server's --api-key; the command line is
 *    world-readable) and sent as "Authorization: Bearer" on every request.
 *  - Startup waits for GET /health = 200 with llama-server's body
 *    {"status":"ok"} for up to 120 s ($INFERENCE_LLAMA_SERVER_TIMEOUT_MS);
 *    a child that exits first fails the load with INF_E_REMOTE, its exit
 *    status and last output lines.  The port was free when picked, but
 *    another local process may bind it before the child does, so whatever
 *    answers must then prove to be ours: GET /props refused without the key
 *    (401) and served with it (200), and the child still running; anything
 *    else (another /health body too) fails the load with INF_E_REMOTE.  Not
 *    told apart: a process that took the port and imitates llama-server,
 *    refusing requests without a key but accepting any key.  A llama-server
 *    too old to read $LLAMA_API_KEY or to serve /props is refused as well.
 *  - Requests ask for logprobs of the top token so that inf_token.id is the
 *    real token id (llama-server reports it there).
 *  - A child that dies later makes the failing stream's message say so
 *    (exit status, signal, last output).
 *  - close stops it: SIGTERM, SIGKILL after 5 s, and waitpid.
 *  - If the program dies without closing the model, the child lingers
 *    (there is no portable parent-death signal for spawned children). */
#ifndef INF_LLAMA_CPP_H
#define INF_LLAMA_CPP_H

#include "inference_backend.h"

/* The backend, listed by src/backends/builtin.c. */
extern const inf_backend inf__backend_llama_cpp;

#endif
