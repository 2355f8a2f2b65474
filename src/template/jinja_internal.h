/*
 * jinja_internal.h - what the files of the Jinja interpreter share: the
 * arena, values, the syntax tree and the render context.
 *
 * Values live in the render's arena and are never freed one by one: a render
 * is short, and an arena makes reference cycles (a namespace holding itself)
 * and error paths leak-free. The arena has a byte limit, which is what bounds
 * the memory a hostile template can take.
 *
 * Functions that can fail return 0 on success and -1 on error, after
 * recording the error (message and template position) in the context.
 */
#ifndef SL_TEMPLATE_JINJA_INTERNAL_H
#define SL_TEMPLATE_JINJA_INTERNAL_H

#include <locale.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/utf8.h"
#include "template/jinja.h"

/* ---- arena --------------------------------------------------------------- */

typedef struct sl_jarena_chunk sl_jarena_chunk_t;

typedef struct sl_jarena {
    sl_jarena_chunk_t *chunks;
    char *cur, *end;
    size_t used;  /* bytes taken from malloc */
    size_t limit; /* 0: no limit */
} sl_jarena_t;

void sl_jarena_init(sl_jarena_t *arena, size_t limit);
/* SIZE bytes aligned for any value, or NULL (limit reached or malloc failed). */
void *sl_jarena_alloc(sl_jarena_t *arena, size_t size);
void sl_jarena_free(sl_jarena_t *arena);

/* ---- values --------------------------------------------------------------- */

typedef enum {
    SL_JV_UNDEFINED,
    SL_JV_NONE,
    SL_JV_BOOL,
    SL_JV_INT,
    SL_JV_FLOAT,
    SL_JV_STR,
    SL_JV_LIST,
    SL_JV_TUPLE,
    SL_JV_DICT,
    SL_JV_NAMESPACE, /* namespace(): a dict whose attributes `set` may change */
    SL_JV_FUNC,      /* a built-in function or a bound method */
    SL_JV_MACRO,     /* a macro, or the `caller` of a call block */
    SL_JV_LOOP,      /* the `loop` variable of a for loop */
} sl_jkind_t;

/* Immutable UTF-8 text, NUL-terminated (data[len] == 0). */
typedef struct sl_jstr {
    size_t len;
    char data[];
} sl_jstr_t;

typedef struct sl_jlist sl_jlist_t;
typedef struct sl_jdict sl_jdict_t;
typedef struct sl_jfunc sl_jfunc_t;
typedef struct sl_jmacro sl_jmacro_t;
typedef struct sl_jloop sl_jloop_t;

typedef struct sl_jv {
    sl_jkind_t kind;
    union {
        bool b;
        int64_t i;
        double f;
        const sl_jstr_t *s; /* STR; for UNDEFINED the reason (NULL: none) */
        sl_jlist_t *list;   /* LIST, TUPLE */
        sl_jdict_t *dict;   /* DICT, NAMESPACE */
        sl_jfunc_t *func;
        sl_jmacro_t *macro;
        sl_jloop_t *loop;
    } u;
} sl_jv_t;

/* What a LIST value stands for in Python. jinja2's map, select... return
 * generators and dict.items() returns a view: iterable like a list, but a
 * generator is always true and has no len(), neither can be indexed or
 * serialised, and each prints its own way. Templates depend on that (an
 * `if xs|select(...)` is always taken). */
typedef enum {
    SL_JSEQ_LIST = 0,
    SL_JSEQ_GENERATOR, /* map, select, reject, unique, batch, items... */
    SL_JSEQ_REVERSED,  /* reversed(list): the reverse filter */
    SL_JSEQ_ITEMS,     /* dict.items() */
    SL_JSEQ_KEYS,      /* dict.keys() */
    SL_JSEQ_VALUES,    /* dict.values() */
    SL_JSEQ_RANGE,     /* range(): a sequence, printed as range(a, b) */
} sl_jseq_flavor_t;

struct sl_jlist {
    size_t len, cap;
    sl_jv_t *items;
    sl_jseq_flavor_t flavor; /* LIST only */
    int64_t range[3];        /* SL_JSEQ_RANGE: start, stop, step */
};

/* Insertion-ordered, like Python's dict; lookups compare keys with ==. */
struct sl_jdict {
    size_t len, cap;
    sl_jv_t *keys;
    sl_jv_t *vals;
};

/* ---- syntax tree ----------------------------------------------------------- */

typedef enum {
    /* expressions */
    SL_JN_LITERAL, /* lit */
    SL_JN_NAME,    /* name */
    SL_JN_LIST,    /* args: items */
    SL_JN_TUPLE,   /* args: items */
    SL_JN_DICT,    /* args: key, value, key, value... */
    SL_JN_ATTR,    /* a.name */
    SL_JN_ITEM,    /* a[b] */
    SL_JN_SLICE,   /* a[b:c:d]: b, c, d may be NULL */
    SL_JN_CALL,    /* a(args, kwnames=kwargs) */
    SL_JN_FILTER,  /* a|name(args, kwargs); a NULL in a filter block's chain */
    SL_JN_TEST,    /* a is [not] name(args); op: 1 when negated */
    SL_JN_UNARY,   /* op a: SL_JOP_NOT, SL_JOP_NEG, SL_JOP_POS */
    SL_JN_BINARY,  /* a op b, including and/or */
    SL_JN_COMPARE, /* a ops[0] args[0] ops[1] args[1] ... */
    SL_JN_COND,    /* b if a else c; c may be NULL */
    /* statements */
    SL_JN_TEXT,      /* lit: template data */
    SL_JN_OUTPUT,    /* {{ a }} */
    SL_JN_IF,        /* if a: body, else: else_body */
    SL_JN_FOR,       /* for targets in a [if b]: body, else: else_body */
    SL_JN_SET,       /* set targets = a, or set name.attr = a */
    SL_JN_SETBLOCK,  /* set name [| filters in c]: body */
    SL_JN_MACRO,     /* macro name(targets = args defaults): body */
    SL_JN_CALLBLOCK, /* call(targets) a: body */
    SL_JN_FILTERBLK, /* filter c: body */
    SL_JN_WITH,      /* with targets = args: body */
    SL_JN_BREAK,
    SL_JN_CONTINUE,
    SL_JN_BLOCK,     /* a body run in place: {% generation %} */
} sl_jnode_kind_t;

typedef enum {
    SL_JOP_ADD, SL_JOP_SUB, SL_JOP_MUL, SL_JOP_DIV, SL_JOP_FLOORDIV, SL_JOP_MOD,
    SL_JOP_POW, SL_JOP_CONCAT, SL_JOP_AND, SL_JOP_OR,
    SL_JOP_EQ, SL_JOP_NE, SL_JOP_LT, SL_JOP_LE, SL_JOP_GT, SL_JOP_GE, SL_JOP_IN, SL_JOP_NOTIN,
    SL_JOP_NOT, SL_JOP_NEG, SL_JOP_POS,
} sl_jop_t;

typedef struct sl_jnode sl_jnode_t;

typedef struct sl_jnode_list {
    sl_jnode_t **items;
    size_t n;
} sl_jnode_list_t;

struct sl_jnode {
    sl_jnode_kind_t kind;
    int op;
    uint32_t pos; /* byte offset in the (newline-normalised) source */
    const char *name;
    const char *attr; /* SET of a namespace attribute: name.attr */
    sl_jv_t lit;
    sl_jnode_t *a, *b, *c, *d;
    sl_jnode_list_t args;
    sl_jnode_list_t kwargs;
    const char **kwnames;
    sl_jnode_list_t body, else_body;
    const char **targets; /* loop/set/with targets, macro parameters */
    size_t ntargets;
    bool tuple_target;    /* `for a, b in` / `set a, b =`: unpack */
    int *ops;             /* SL_JN_COMPARE */
    const void *fn;       /* SL_JN_FILTER, SL_JN_TEST: the resolved function */
};

struct sl_jinja_template {
    sl_jarena_t arena; /* nodes, names and literals */
    char *source;      /* normalised source, for error positions */
    size_t length;
    sl_jnode_list_t body;
};

/* ---- render context --------------------------------------------------------- */

typedef struct sl_jframe sl_jframe_t;
struct sl_jframe {
    sl_jframe_t *parent;
    size_t n, cap;
    const char **names;
    sl_jv_t *vals;
};

/* Growable text in the arena. */
typedef struct sl_jbuf {
    char *data;
    size_t len, cap;
} sl_jbuf_t;

typedef struct sl_jctx {
    const sl_jinja_template_t *tpl;
    sl_jarena_t arena;
    sl_jbuf_t *out; /* where output statements write */
    sl_jframe_t *root;
    sl_jinja_limits_t limits;
    time_t now;
    uint64_t steps, iterations;
    unsigned depth;
    uint32_t pos; /* the node being evaluated, for errors */
    sl_status_t status;
    sl_jinja_error_t *err;
} sl_jctx_t;

struct sl_jmacro {
    const char *name;
    const sl_jnode_t *node; /* SL_JN_MACRO or SL_JN_CALLBLOCK */
    sl_jframe_t *closure;
};

/* Arguments of a call, evaluated. */
typedef struct sl_jargs {
    size_t npos;
    const sl_jv_t *pos;
    size_t nkw;
    const char *const *kwnames;
    const sl_jv_t *kw;
} sl_jargs_t;

typedef int (*sl_jbuiltin_fn)(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args,
                              sl_jv_t *out);

struct sl_jfunc {
    const char *name;
    sl_jbuiltin_fn fn;
    sl_jv_t self; /* the object of a bound method */
};

struct sl_jloop {
    size_t index0, length;
    sl_jlist_t *items;
    sl_jv_t changed_last; /* loop.changed(): the previous arguments */
    bool changed_set;
};

typedef int (*sl_jfilter_fn)(sl_jctx_t *ctx, sl_jv_t value, const sl_jargs_t *args,
                             sl_jv_t *out);
typedef int (*sl_jtest_fn)(sl_jctx_t *ctx, sl_jv_t value, const sl_jargs_t *args,
                           bool *out);

typedef struct sl_jfilter {
    const char *name;
    sl_jfilter_fn fn;
    bool generator; /* jinja2's returns a generator: see sl_jseq_flavor_t */
} sl_jfilter_t;

/* Runs FILTER; marks a generator filter's list as a generator. */
int sl_jfilter_call(sl_jctx_t *ctx, const sl_jfilter_t *filter, sl_jv_t value,
                    const sl_jargs_t *args, sl_jv_t *out);

typedef struct sl_jtest {
    const char *name;
    sl_jtest_fn fn;
} sl_jtest_t;

/* ---- errors (jinja_value.c) ------------------------------------------------ */

/* Records an error at ctx->pos (first error wins) and returns -1. */
int sl_jerr(sl_jctx_t *ctx, const char *format, ...) __attribute__((format(printf, 2, 3)));
/* Same with an explicit status (SL_ERR_OVERFLOW for limits). */
int sl_jerr_status(sl_jctx_t *ctx, sl_status_t status, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
/* Fills ERR (may be NULL) for byte offset POS of SOURCE (UINT32_MAX: none). */
void sl_jerror_fill(sl_jinja_error_t *err, const char *source, size_t length, uint32_t pos,
                    const char *format, va_list ap) __attribute__((format(printf, 5, 0)));

/* ---- allocation and text (jinja_value.c) ------------------------------------ */

void *sl_jalloc(sl_jctx_t *ctx, size_t size);
int sl_jbuf_put(sl_jctx_t *ctx, sl_jbuf_t *buf, const char *text, size_t length);
int sl_jbuf_puts(sl_jctx_t *ctx, sl_jbuf_t *buf, const char *text);
int sl_jbuf_printf(sl_jctx_t *ctx, sl_jbuf_t *buf, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
/* A STR value of the buffer's text. */
int sl_jbuf_value(sl_jctx_t *ctx, const sl_jbuf_t *buf, sl_jv_t *out);

/* UTF-8 helpers; the text is valid UTF-8. */
uint32_t sl_jutf8_next(const char *text, size_t length, size_t *offset);
size_t sl_jutf8_count(const char *text, size_t length);
/* Byte offset of code point INDEX (clamped to LENGTH). */
size_t sl_jutf8_offset(const char *text, size_t length, size_t index);
/* Python's str.isspace() for one code point. */
bool sl_jisspace(uint32_t cp);

/* ---- values (jinja_value.c) ------------------------------------------------- */

static inline sl_jv_t sl_jv_none(void) { return (sl_jv_t){.kind = SL_JV_NONE}; }
static inline sl_jv_t sl_jv_undef(void) { return (sl_jv_t){.kind = SL_JV_UNDEFINED}; }
static inline sl_jv_t sl_jv_bool(bool b) { return (sl_jv_t){.kind = SL_JV_BOOL, .u.b = b}; }
static inline sl_jv_t sl_jv_int(int64_t i) { return (sl_jv_t){.kind = SL_JV_INT, .u.i = i}; }
static inline sl_jv_t sl_jv_float(double f) { return (sl_jv_t){.kind = SL_JV_FLOAT, .u.f = f}; }

/* Undefined with a reason shown when it is used ("'x' is undefined"). */
int sl_jv_undef_why(sl_jctx_t *ctx, sl_jv_t *out, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
int sl_jv_str(sl_jctx_t *ctx, const char *text, size_t length, sl_jv_t *out);
int sl_jv_cstr(sl_jctx_t *ctx, const char *text, sl_jv_t *out);
int sl_jlist_new(sl_jctx_t *ctx, size_t cap, sl_jkind_t kind, sl_jv_t *out);
int sl_jlist_push(sl_jctx_t *ctx, sl_jlist_t *list, sl_jv_t item);
int sl_jdict_new(sl_jctx_t *ctx, sl_jkind_t kind, sl_jv_t *out);
int sl_jdict_set(sl_jctx_t *ctx, sl_jdict_t *dict, sl_jv_t key, sl_jv_t val);
bool sl_jdict_get(const sl_jdict_t *dict, sl_jv_t key, sl_jv_t *val_p);
bool sl_jdict_get_cstr(const sl_jdict_t *dict, const char *key, sl_jv_t *val_p);

static inline bool sl_jv_is_num(sl_jv_t v)
{
    return v.kind == SL_JV_INT || v.kind == SL_JV_FLOAT || v.kind == SL_JV_BOOL;
}
/* A list, tuple or range: indexable, with len(). */
static inline bool sl_jv_is_seq(sl_jv_t v)
{
    return (v.kind == SL_JV_LIST || v.kind == SL_JV_TUPLE) &&
           (v.u.list->flavor == SL_JSEQ_LIST || v.u.list->flavor == SL_JSEQ_RANGE);
}
/* A list or tuple proper: one that + and * and < accept. */
static inline bool sl_jv_is_list(sl_jv_t v)
{
    return (v.kind == SL_JV_LIST || v.kind == SL_JV_TUPLE) && v.u.list->flavor == SL_JSEQ_LIST;
}
/* Any LIST or TUPLE value, generators and views included. */
static inline bool sl_jv_is_iter(sl_jv_t v)
{
    return v.kind == SL_JV_LIST || v.kind == SL_JV_TUPLE;
}
static inline bool sl_jv_is_map(sl_jv_t v)
{
    return v.kind == SL_JV_DICT || v.kind == SL_JV_NAMESPACE;
}
/* Number as double / as integer (bool counts as int, like Python). */
double sl_jv_num(sl_jv_t v);

bool sl_jv_truthy(sl_jv_t v);
bool sl_jv_eq(sl_jv_t a, sl_jv_t b);
/* Python's <, ==, > for numbers, strings, lists, tuples; *OUT is -1, 0 or 1. */
int sl_jv_cmp(sl_jctx_t *ctx, sl_jv_t a, sl_jv_t b, int *out);
/* Python's type name: 'str', 'int', 'NoneType', 'dict'... */
const char *sl_jv_type_name(sl_jv_t v);
/* len(): code points of a string, items of a list or dict; undefined is 0. */
int sl_jv_len(sl_jctx_t *ctx, sl_jv_t v, size_t *out);
/* The items `for` iterates: a list as is, a dict's keys, a string's
 * characters, nothing for undefined; anything else is an error. */
int sl_jv_iterate(sl_jctx_t *ctx, sl_jv_t v, sl_jlist_t **out);
/* An error if V cannot be a dict key (a list or dict), as in Python. */
int sl_jv_unhashable(sl_jctx_t *ctx, sl_jv_t v);
/* A reason-carrying error for using undefined V. */
int sl_jv_undef_error(sl_jctx_t *ctx, sl_jv_t v);

/* ---- text forms (jinja_format.c) ------------------------------------------- */

/* Python's str(v) (undefined: empty) and repr(v), appended to BUF. */
int sl_jv_write_str(sl_jctx_t *ctx, sl_jbuf_t *buf, sl_jv_t v);
int sl_jv_write_repr(sl_jctx_t *ctx, sl_jbuf_t *buf, sl_jv_t v);
/* str(v) as a STR value (V itself when it is one). */
int sl_jv_to_str(sl_jctx_t *ctx, sl_jv_t v, sl_jv_t *out);
/* Python's repr() of a float ("1.0", "1e-05", "inf"). */
void sl_jfloat_repr(double f, char out[32]);

typedef struct sl_jjson_opts {
    bool ensure_ascii;
    bool sort_keys;
    bool indent_set;         /* indent given (not None) */
    const char *indent;      /* the indent string */
    size_t indent_len;
    const char *item_sep, *key_sep;
    size_t item_sep_len, key_sep_len;
} sl_jjson_opts_t;

/* Python's json.dumps(v, ...) with OPTS. */
int sl_jv_write_json(sl_jctx_t *ctx, sl_jbuf_t *buf, sl_jv_t v, const sl_jjson_opts_t *opts);
/* Converts a JSON value into a render value. */
int sl_jv_from_json(sl_jctx_t *ctx, const json_t *json, sl_jv_t *out);

/* ---- operators (jinja_ops.c) ------------------------------------------------- */

int sl_jop_binary(sl_jctx_t *ctx, sl_jop_t op, sl_jv_t a, sl_jv_t b, sl_jv_t *out);
int sl_jop_compare(sl_jctx_t *ctx, sl_jop_t op, sl_jv_t a, sl_jv_t b, bool *out);
/* obj[start:stop:step]; absent bounds are NONE. */
int sl_jop_slice(sl_jctx_t *ctx, sl_jv_t obj, sl_jv_t start, sl_jv_t stop, sl_jv_t step,
                 sl_jv_t *out);
/* Jinja's obj[key]: a missing key or index is undefined, not an error. */
int sl_jop_getitem(sl_jctx_t *ctx, sl_jv_t obj, sl_jv_t key, sl_jv_t *out);
/* Jinja's obj.name: a method or attribute first, then the item. */
int sl_jop_getattr(sl_jctx_t *ctx, sl_jv_t obj, const char *name, sl_jv_t *out);
/* Attribute path "a.b.0" as the map/selectattr filters take it. */
int sl_jop_getpath(sl_jctx_t *ctx, sl_jv_t obj, sl_jv_t path, sl_jv_t *out);

/* ---- methods and globals (jinja_methods.c, jinja_globals.c) ---------------------------------- */

/* A bound method of OBJ called NAME: *FOUND false when there is none. */
int sl_jmethod_lookup(sl_jctx_t *ctx, sl_jv_t obj, const char *name, bool *found,
                      sl_jv_t *out);
/* range, namespace, dict, raise_exception, strftime_now... */
bool sl_jglobal_lookup(const char *name, sl_jv_t *out);
/* V as a string / an integer argument of FNAME, or an error. */
int sl_jneed_str(sl_jctx_t *ctx, const char *fname, sl_jv_t v);
int sl_jneed_int(sl_jctx_t *ctx, const char *fname, sl_jv_t v, int64_t *out);
/* Binds ARGS to PARAMS (N names) into SLOTS, which hold the defaults.
 * SL_JPARAMS("a", "b") gives the PARAMS, N pair. */
#define SL_JPARAMS(...) (const char *const[]){__VA_ARGS__}, \
    sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)
int sl_jbind(sl_jctx_t *ctx, const char *fname, const sl_jargs_t *args,
             const char *const *params, size_t n, sl_jv_t *slots);

/* String helpers shared by methods, filters and operators. */
enum { SL_JCASE_UPPER, SL_JCASE_LOWER, SL_JCASE_CAPITALIZE, SL_JCASE_TITLE, SL_JCASE_SWAPCASE };
int sl_jstr_case(sl_jctx_t *ctx, const sl_jstr_t *s, int mode, sl_jv_t *out);
/* str.strip(chars): CHARS NONE or undefined means whitespace. */
int sl_jstr_strip(sl_jctx_t *ctx, const sl_jstr_t *s, sl_jv_t chars, bool left, bool right,
                  sl_jv_t *out);
/* str.replace(old, new, count); COUNT < 0: all. */
int sl_jstr_replace(sl_jctx_t *ctx, const sl_jstr_t *s, const sl_jstr_t *old,
                    const sl_jstr_t *repl, int64_t count, sl_jv_t *out);
/* Python's "fmt" % args. */
int sl_jstr_percent(sl_jctx_t *ctx, const sl_jstr_t *fmt, sl_jv_t args, sl_jv_t *out);
/* Parsing and rendering run in the "C" locale whatever the process set,
 * so that printf/strtod use '.' and strftime English names, as Python
 * does. sl_jlocale_enter() returns what sl_jlocale_leave() restores. */
locale_t sl_jlocale_enter(void);
void sl_jlocale_leave(locale_t saved);
/* Python's isupper/islower/isalpha for one code point. */
bool sl_jis_upper(uint32_t cp);
bool sl_jis_lower(uint32_t cp);
bool sl_jis_alpha(uint32_t cp);
/* str.splitlines(): the lines without their line breaks. */
int sl_jstr_splitlines(sl_jctx_t *ctx, const sl_jstr_t *s, sl_jv_t *out);

/* ---- filters and tests (jinja_filters.c, jinja_tests.c) ------------------------ */

const sl_jfilter_t *sl_jfilter_find(const char *name);
/* The sequence filters (jinja_filters_seq.c), searched by sl_jfilter_find. */
extern const sl_jfilter_t sl_jfilters_seq[];
extern const size_t sl_jfilters_seq_count;
/* The items filter, which dictsort reuses. */
int sl_jf_items(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, sl_jv_t *out);
/* A jinja2 built-in filter deliberately left out. */
bool sl_jfilter_unsupported(const char *name);
const sl_jtest_t *sl_jtest_find(const char *name);

/* ---- evaluation (jinja_eval.c) ------------------------------------------------- */

/* Calls a function, bound method or macro. */
int sl_jcall(sl_jctx_t *ctx, sl_jv_t callee, const sl_jargs_t *args, sl_jv_t *out);

/* ---- parsing (jinja_lexer.c, jinja_parser.c) ----------------------------------- */

typedef enum {
    SL_JT_EOF,
    SL_JT_DATA,
    SL_JT_VAR_BEGIN,
    SL_JT_VAR_END,
    SL_JT_BLOCK_BEGIN,
    SL_JT_BLOCK_END,
    SL_JT_NAME,
    SL_JT_STRING,
    SL_JT_INT,
    SL_JT_FLOAT,
    SL_JT_OP,
} sl_jtoken_kind_t;

typedef struct sl_jtoken {
    sl_jtoken_kind_t kind;
    uint32_t pos;
    const char *text;       /* NAME, OP: NUL-terminated */
    const sl_jstr_t *str;   /* DATA, STRING: the decoded text */
    int64_t i;
    double f;
} sl_jtoken_t;

typedef struct sl_jtokens {
    sl_jtoken_t *items;
    size_t n, cap;
} sl_jtokens_t;

/* Splits the normalised SOURCE into tokens allocated in ARENA, applying
 * trim_blocks, lstrip_blocks and the -/+ whitespace controls. */
sl_status_t sl_jlex(sl_jarena_t *arena, const char *source, size_t length,
                    sl_jinja_error_t *err, sl_jtokens_t *tokens);
/* Builds TPL->body from TOKENS. */
sl_status_t sl_jparse_tokens(sl_jinja_template_t *tpl, const sl_jtokens_t *tokens,
                             sl_jinja_error_t *err);

#endif /* SL_TEMPLATE_JINJA_INTERNAL_H */
