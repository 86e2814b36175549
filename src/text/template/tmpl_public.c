/* Public entry point inf_chat_template_render (inference.h). */
#include <stdlib.h>
#include <string.h>

#include "text/template/chat_template.h"

INF_API int inf_chat_template_render(const char *model_dir, const char *tmpl, const inf_message *msgs, size_t n_msgs,
                                     int add_generation_prompt, const char *tools_json, const char *extra_vars_json,
                                     char **out, char **errmsg) {
    inf__err err;
    inf__err_clear(&err);
    if (out) *out = NULL;
    if (errmsg) *errmsg = NULL;
    inf__chat_template *t = NULL;
    int rc;
    if (!out || (!model_dir && !tmpl)) {
        rc = inf__seterr(&err, INF_E_INVALID_ARGUMENT, "inf_chat_template_render: need out and a model_dir or tmpl");
    } else if (tmpl) {
        /* a caller's template still sees the model's special tokens */
        char *vars = NULL;
        rc = model_dir ? inf__tmpl_dir_special_tokens(model_dir, &vars, &err) : INF_OK;
        if (rc == INF_OK) rc = inf__tmpl_from_source(tmpl, vars, &t, &err);
        free(vars);
    } else {
        rc = inf__tmpl_load_dir(model_dir, &t, &err);
    }
    if (rc == INF_OK) rc = inf__tmpl_render(t, msgs, n_msgs, add_generation_prompt, tools_json, extra_vars_json, out, &err);
    inf__tmpl_free(t);
    if (rc != INF_OK && errmsg) *errmsg = strdup(err.msg[0] ? err.msg : inf_strerror(rc));
    return rc;
}
