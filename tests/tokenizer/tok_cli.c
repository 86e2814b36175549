/* Debug helper: tok_cli DIR TEXT [add_special] prints the ids of TEXT and
 * the decode of those ids. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/tokenizer/tokenizer.h"

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: tok_cli DIR TEXT [add_special]\n"); return 2; }
    inf__tokenizer *t;
    inf__err err;
    if (inf__tok_load_dir(argv[1], &t, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    int32_t *ids;
    size_t n;
    if (inf__tok_encode(t, argv[2], strlen(argv[2]), argc > 3 && atoi(argv[3]), &ids, &n, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    for (size_t i = 0; i < n; i++) printf("%d(%s) ", ids[i], inf__tok_piece(t, ids[i]));
    char *s;
    size_t len;
    if (inf__tok_decode(t, ids, n, 0, &s, &len, &err) == 0) printf("\n\"%s\"\n", s);
    free(s);
    free(ids);
    inf__tok_free(t);
    return 0;
}
