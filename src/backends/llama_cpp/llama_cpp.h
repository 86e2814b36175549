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
 *  - Startup waits for GET /health = 200 for up to 120 s
 *    ($INFERENCE_LLAMA_SERVER_TIMEOUT_MS); a child that exits first fails
 *    the load with INF_E_REMOTE, its exit status and last output lines.
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
