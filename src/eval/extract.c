/* extract.c: answers from generated text: the reasoning part is dropped, then GSM8K numbers
 * ("#### n", \boxed{n}, "the answer is n", else the last number; canonical decimal text for
 * numeric equality) and multiple-choice letters. Rules and their differences from the MoE-CAP
 * reference's extractor are in docs/EVAL.md section 4. Pure functions on byte strings: depends
 * on libc only (no regex engine; every rule is a small hand-written scanner). */
#include "eval.h"

#include <string.h>

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}
static int is_upper(char c)
{
    return c >= 'A' && c <= 'Z';
}
static int is_lower(char c)
{
    return c >= 'a' && c <= 'z';
}
static int is_alnum(char c)
{
    return is_digit(c) || is_upper(c) || is_lower(c);
}
static char lower(char c)
{
    return is_upper(c) ? (char)(c - 'A' + 'a') : c;
}

/* Case-insensitive search for an ASCII needle (lower case) in s[from..len). */
static const char *find_ci(const char *s, size_t len, size_t from, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = from; i + k <= len; i++) {
        size_t j = 0;
        while (j < k && lower(s[i + j]) == needle[j])
            j++;
        if (j == k)
            return s + i;
    }
    return NULL;
}

static const char *find_last(const char *s, size_t len, const char *needle, const char *from_end)
{
    size_t k = strlen(needle);
    const char *best = NULL;
    for (const char *p = s; p && p + k <= from_end;) {
        p = memmem(p, (size_t)(s + len - p), needle, k);
        if (p && p + k <= from_end) {
            best = p;
            p++;
        } else {
            break;
        }
    }
    return best;
}

void mc_ev_strip_reasoning(const char *text, size_t len, const char **out, size_t *out_len)
{
    static const char *const marks[] = {"</think>", "assistantfinal"};
    *out = text;
    *out_len = len;
    for (size_t m = 0; m < 2; m++) {
        const char *p = find_last(text, len, marks[m], text + len);
        if (p) {
            p += strlen(marks[m]);
            *out = p;
            *out_len = (size_t)(text + len - p);
            return;
        }
    }
}

/* ==== numbers =============================================================================== */

const char *mc_ev_num_rule_name(mc_ev_num_rule r)
{
    static const char *const n[] = {"none", "####", "boxed", "answer is", "last number"};
    return r <= MC_EV_NUM_LAST ? n[r] : "?";
}

/* The number whose first digit is at or after `from`: digits with thousands commas (a comma
 * counts only between digits), an optional fraction; a '-' (or "-$") right before it belongs to
 * it. A digit right after a digit or '.' does not start a number. Returns 1 and [*ns, *ne). */
static int next_number(const char *s, size_t len, size_t from, size_t *ns, size_t *ne)
{
    for (size_t i = from; i < len; i++) {
        if (!is_digit(s[i]) || (i > 0 && (is_digit(s[i - 1]) || s[i - 1] == '.')))
            continue;
        size_t st = i, e = i;
        while (e < len && (is_digit(s[e]) || (s[e] == ',' && e + 1 < len && is_digit(s[e + 1]))))
            e++;
        if (e + 1 < len && s[e] == '.' && is_digit(s[e + 1]))
            for (e++; e < len && is_digit(s[e]);)
                e++;
        if (st > 0 && s[st - 1] == '$')
            st--;
        if (st > 0 && s[st - 1] == '-' && (st < 2 || !is_alnum(s[st - 2])))
            st--;
        *ns = st;
        *ne = e;
        return 1;
    }
    return 0;
}

/* The digits of a plain decimal number and where its point is. */
typedef struct digits {
    char d[128];
    size_t k, dot; /* digits; dot = digits before the point (k when none) */
    int neg;
} digits;

static int read_digits(const char *s, size_t n, digits *x)
{
    x->k = 0;
    x->dot = SIZE_MAX;
    x->neg = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '$' || c == ',' || c == ' ' || (c == '+' && x->k == 0 && !x->neg))
            continue;
        if (c == '-' && x->k == 0 && !x->neg) {
            x->neg = 1;
        } else if (c == '.' && x->dot == SIZE_MAX) {
            x->dot = x->k;
        } else {
            if (!is_digit(c) || x->k + 1 >= sizeof x->d)
                return -1;
            x->d[x->k++] = c;
        }
    }
    if (x->dot == SIZE_MAX)
        x->dot = x->k;
    return x->k ? 0 : -1;
}

int mc_ev_number_canon(const char *s, size_t n, char *out, size_t cap)
{
    digits x;
    if (read_digits(s, n, &x) != 0)
        return -1;
    size_t a = 0, int_end = x.dot, frac_end = x.k;
    while (a + 1 < int_end && x.d[a] == '0')
        a++;
    while (frac_end > int_end && x.d[frac_end - 1] == '0')
        frac_end--;
    int zero = 1;
    for (size_t i = 0; i < x.k; i++)
        zero &= x.d[i] == '0';
    size_t need = (x.neg && !zero) + (int_end > a ? int_end - a : 1) +
                  (frac_end > int_end ? frac_end - int_end + 1 : 0) + 1;
    if (need > cap)
        return -1;
    size_t w = 0;
    if (x.neg && !zero)
        out[w++] = '-';
    if (int_end == a)
        out[w++] = '0';
    for (size_t i = a; i < int_end; i++)
        out[w++] = x.d[i];
    if (frac_end > int_end)
        out[w++] = '.';
    for (size_t i = int_end; i < frac_end; i++)
        out[w++] = x.d[i];
    out[w] = 0;
    return 0;
}

int mc_ev_numbers_equal(const char *a, const char *b)
{
    char x[160], y[160];
    if (!a || !b || mc_ev_number_canon(a, strlen(a), x, sizeof x) ||
        mc_ev_number_canon(b, strlen(b), y, sizeof y))
        return 0;
    return strcmp(x, y) == 0;
}

typedef struct num_cand {
    size_t end; /* where the explicit form ends (ranks candidates) */
    size_t ns, ne;
    mc_ev_num_rule rule;
} num_cand;

static void consider(num_cand *best, size_t end, size_t ns, size_t ne, mc_ev_num_rule rule)
{
    if (best->rule == MC_EV_NUM_NONE || end >= best->end)
        *best = (num_cand){end, ns, ne, rule};
}

/* "####" then spaces, '$' or '*' and a number. */
static void rule_hash(const char *s, size_t len, num_cand *best)
{
    for (const char *p = s; (p = memmem(p, (size_t)(s + len - p), "####", 4)) != NULL; p += 4) {
        size_t i = (size_t)(p - s) + 4, ns, ne;
        while (i < len && (s[i] == '#' || s[i] == ' ' || s[i] == '$' || s[i] == '*'))
            i++;
        if (next_number(s, len, i, &ns, &ne) && ns <= i + 1)
            consider(best, ne, ns, ne, MC_EV_NUM_HASH);
    }
}

/* \boxed{...}: the first number inside the braces (nested braces allowed). */
static void rule_boxed(const char *s, size_t len, num_cand *best)
{
    for (const char *p = s; (p = memmem(p, (size_t)(s + len - p), "\\boxed{", 7)) != NULL;) {
        size_t i = (size_t)(p - s) + 7, depth = 1, close = i;
        while (close < len && depth > 0) {
            depth += s[close] == '{';
            depth -= s[close] == '}';
            close++;
        }
        size_t ns, ne;
        if (depth == 0 && next_number(s, close, i, &ns, &ne))
            consider(best, close, ns, ne, MC_EV_NUM_BOXED);
        p += 7;
    }
}

/* "answer is|was|:|=" followed (on the same line, within 60 bytes of anything but digits) by a
 * number. */
static void rule_answer(const char *s, size_t len, num_cand *best)
{
    static const char *const cues[] = {
        "answer is", "answer was", "answer:", "answer =", "answer would be", "answer will be"};
    for (size_t c = 0; c < sizeof cues / sizeof cues[0]; c++) {
        for (const char *p = s; (p = find_ci(s, len, (size_t)(p - s), cues[c])) != NULL; p++) {
            size_t i = (size_t)(p - s) + strlen(cues[c]), lim = i + 60, ns, ne;
            size_t j = i;
            while (j < len && j < lim && s[j] != '\n' && !is_digit(s[j]))
                j++;
            if (j < len && is_digit(s[j]) && next_number(s, len, j, &ns, &ne) && ns >= i)
                consider(best, ne, ns, ne, MC_EV_NUM_ANSWER_IS);
        }
    }
}

static int rule_last(const char *s, size_t len, size_t *ns, size_t *ne)
{
    size_t from = 0, a, b;
    int found = 0;
    while (next_number(s, len, from, &a, &b)) {
        *ns = a;
        *ne = b;
        found = 1;
        from = b;
    }
    return found;
}

mc_ev_num_rule mc_ev_extract_number(const char *text, size_t len, char *out, size_t cap)
{
    const char *s;
    size_t n;
    mc_ev_strip_reasoning(text, len, &s, &n);
    num_cand best = {0, 0, 0, MC_EV_NUM_NONE};
    rule_hash(s, n, &best);
    rule_boxed(s, n, &best);
    rule_answer(s, n, &best);
    if (best.rule == MC_EV_NUM_NONE && rule_last(s, n, &best.ns, &best.ne))
        best.rule = MC_EV_NUM_LAST;
    if (best.rule == MC_EV_NUM_NONE ||
        mc_ev_number_canon(s + best.ns, best.ne - best.ns, out, cap) != 0) {
        if (cap)
            out[0] = 0;
        return MC_EV_NUM_NONE;
    }
    return best.rule;
}

/* ==== choice letters ========================================================================= */

const char *mc_ev_letter_rule_name(mc_ev_letter_rule r)
{
    static const char *const n[] = {"none", "answer is", "boxed", "bare", "last letter"};
    return r <= MC_EV_LET_LAST ? n[r] : "?";
}

typedef struct let_cand {
    size_t end;
    char letter;
    mc_ev_letter_rule rule;
} let_cand;

/* A choice letter at s[i] in range: uppercase, not part of a word. */
static int letter_at(const char *s, size_t len, size_t i, size_t n_choices)
{
    if (i >= len || !is_upper(s[i]) || (size_t)(s[i] - 'A') >= n_choices)
        return 0;
    if (i > 0 && is_alnum(s[i - 1]))
        return 0;
    return i + 1 >= len || !is_alnum(s[i + 1]);
}

/* After a cue: spaces, '(' or '[', the letter, and not a word ("A" / "I" + " lowercase"). */
static int letter_after(const char *s, size_t len, size_t i, size_t n_choices, size_t *at)
{
    while (i < len && (s[i] == ' ' || s[i] == ':'))
        i++;
    if (i < len && (s[i] == '(' || s[i] == '['))
        i++;
    if (!letter_at(s, len, i, n_choices))
        return 0;
    if ((s[i] == 'A' || s[i] == 'I') && i + 2 < len && s[i + 1] == ' ' && is_lower(s[i + 2]))
        return 0;
    *at = i;
    return 1;
}

static void let_consider(let_cand *best, size_t end, char l, mc_ev_letter_rule r)
{
    if (best->rule == MC_EV_LET_NONE || end >= best->end)
        *best = (let_cand){end, l, r};
}

static void let_answer(const char *s, size_t len, size_t n_choices, let_cand *best)
{
    static const char *const cues[] = {"answer is",        "answer:",         "answer would be",
                                       "answer should be", "option is",       "choice is",
                                       "answer is option", "answer is choice"};
    for (size_t c = 0; c < sizeof cues / sizeof cues[0]; c++)
        for (const char *p = s; (p = find_ci(s, len, (size_t)(p - s), cues[c])) != NULL; p++) {
            size_t at;
            if (letter_after(s, len, (size_t)(p - s) + strlen(cues[c]), n_choices, &at))
                let_consider(best, at + 1, s[at], MC_EV_LET_ANSWER_IS);
        }
}

static void let_boxed(const char *s, size_t len, size_t n_choices, let_cand *best)
{
    for (const char *p = s; (p = memmem(p, (size_t)(s + len - p), "\\boxed{", 7)) != NULL;) {
        size_t i = (size_t)(p - s) + 7;
        if (i + 6 <= len && memcmp(s + i, "\\text{", 6) == 0)
            i += 6;
        size_t at;
        if (letter_after(s, len, i, n_choices, &at))
            let_consider(best, at + 1, s[at], MC_EV_LET_BOXED);
        p += 7;
    }
}

/* The response starts with the letter: "B", "(B)", "B.", "B)", "B:" (then anything). */
static int let_bare(const char *s, size_t len, size_t n_choices, char *l)
{
    size_t i = 0;
    while (i < len && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r'))
        i++;
    size_t open = i < len && (s[i] == '(' || s[i] == '[');
    i += open;
    if (!letter_at(s, len, i, n_choices))
        return 0;
    char next = i + 1 < len ? s[i + 1] : 0;
    if (next && next != ')' && next != ']' && next != '.' && next != ':' && next != '\n' &&
        !(next == ' ' && !is_lower(i + 2 < len ? s[i + 2] : 'X')))
        return 0;
    *l = s[i];
    return 1;
}

static int let_last(const char *s, size_t len, size_t n_choices, char *l)
{
    for (size_t i = len; i-- > 0;) {
        if (!letter_at(s, len, i, n_choices))
            continue;
        if ((s[i] == 'A' || s[i] == 'I') && i + 2 < len && s[i + 1] == ' ' && is_lower(s[i + 2]))
            continue;
        *l = s[i];
        return 1;
    }
    return 0;
}

mc_ev_letter_rule mc_ev_extract_letter(const char *text, size_t len, size_t n_choices, char *letter)
{
    const char *t;
    size_t n;
    mc_ev_strip_reasoning(text, len, &t, &n);
    char *s = mc_malloc(n + 1);
    if (!s)
        return MC_EV_LET_NONE;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (t[i] != '*')
            s[k++] = t[i];
    s[k] = 0;
    let_cand best = {0, 0, MC_EV_LET_NONE};
    let_answer(s, k, n_choices, &best);
    let_boxed(s, k, n_choices, &best);
    if (best.rule == MC_EV_LET_NONE && let_bare(s, k, n_choices, &best.letter))
        best.rule = MC_EV_LET_BARE;
    if (best.rule == MC_EV_LET_NONE && let_last(s, k, n_choices, &best.letter))
        best.rule = MC_EV_LET_LAST;
    mc_free(s);
    if (best.rule != MC_EV_LET_NONE)
        *letter = best.letter;
    return best.rule;
}
