/*
 * A table of the words a hunt has already classified, and the scan that uses it.
 *
 * WordTable.scan() splits a block of log bytes into words exactly as
 * medisac.hunt.sieve does in Python (ASCII letters lower-cased; a word is a
 * run of letters, digits and ".-_:"; every other byte ends it) and looks up
 * each word in an open-addressing hash table, without creating a Python
 * object for a word it has seen before. Each stored word has a value:
 *
 *   >= 0      a needle: the id the caller gave it
 *   MISS      a word that matches nothing
 *   PENDING   a word first seen in this scan, not yet classified
 *
 * Most words of a log cannot match, and scan() skips them without a look-up
 * (can_match() below). Skipping them keeps timestamps, connection ids and
 * counters, which are new on almost every line, out of the table.
 *
 * scan() returns the new words (once each, lower case), the (line start,
 * line index, needle id) triples of the block, and the block's shape: the counts and flags that the
 * malformed-line checks of medisac.hunt.formats need, taken in the same pass. The caller classifies the new words with
 * resolve() and scans the block again if any of them is a needle.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define VALUE_MISS (-1)
#define VALUE_PENDING (-3)

#define SHORT_WORD 5
#define MAX_HASH_LENGTH 255

#define MIX_PRIME 0x9e3779b97f4a7c15ULL
/* Words up to this length are lower-cased into a buffer on the stack. */
#define STACK_WORD 256

/* 0: ends a word; 1: line break; otherwise the lower-cased word byte. */
static unsigned char word_byte[256];
/* Bits of a word byte. */
#define BYTE_HEX 1
#define BYTE_DIGIT 2
#define BYTE_DOT 4
#define BYTE_COLON 8
#define BYTE_OTHER 16 /* letters, "-" and "_" */
/* Bits of the bytes that end words, which describe the block as a whole. */
#define SHAPE_CONTROL 1 /* control bytes but tab, CR and LF */
#define SHAPE_NON_ASCII 2
#define SHAPE_CR 4
#define SHAPE_BLANK_LINE 8
static unsigned char byte_bits[256];
static unsigned char shape_bits[256];

typedef struct {
    uint64_t hash; /* 0 marks an empty slot; a real hash of 0 is stored as 1 */
    int64_t offset; /* of the word in the arena */
    int32_t length;
    int32_t value;
} Slot;

typedef struct {
    PyObject_HEAD
    Slot *slots;
    Py_ssize_t capacity; /* a power of two */
    Py_ssize_t used;
    char *arena;
    Py_ssize_t arena_used;
    Py_ssize_t arena_size;
    /* The hash starts from this random state, so that log text cannot be
     * written to collide in the table without knowing it. NOTE: this
     * multiply-and-shift hash is weaker than the SipHash of Python's sets. */
    uint64_t seed;
    /* hash_length[n] is 1 when hex words of n bytes can be digests. */
    unsigned char hash_length[MAX_HASH_LENGTH + 1];
} WordTable;

/* The last step of a word's hash: mix every bit into the low bits that pick
 * the slot (the 64-bit finaliser of MurmurHash3), and keep 0 for empty. */
static inline uint64_t
finish_hash(uint64_t hash)
{
    hash ^= hash >> 33;
    hash *= 0xff51afd7ed558ccdULL;
    hash ^= hash >> 33;
    hash *= 0xc4ceb9fe1a85ec53ULL;
    hash ^= hash >> 33;
    return hash ? hash : 1;
}

/* Hash a lower-cased word eight bytes at a time. */
static inline uint64_t
hash_word(const WordTable *self, const unsigned char *word, Py_ssize_t length)
{
    uint64_t hash = self->seed ^ ((uint64_t)length * MIX_PRIME);
    while (length >= 8) {
        uint64_t chunk;
        memcpy(&chunk, word, 8);
        hash = (hash ^ chunk) * MIX_PRIME;
        hash ^= hash >> 32;
        word += 8;
        length -= 8;
    }
    if (length > 0) {
        uint64_t chunk = 0;
        memcpy(&chunk, word, (size_t)length);
        hash = (hash ^ chunk) * MIX_PRIME;
        hash ^= hash >> 32;
    }
    return finish_hash(hash);
}

/* Return the slot of a lower-cased word, or the empty slot where it belongs. */
static Slot *
find_slot(WordTable *self, const unsigned char *word, Py_ssize_t length,
          uint64_t hash)
{
    size_t mask = (size_t)self->capacity - 1;
    size_t position = (size_t)hash & mask;
    for (;;) {
        Slot *slot = &self->slots[position];
        if (slot->hash == 0) {
            return slot;
        }
        if (slot->hash == hash && slot->length == length
            && memcmp(self->arena + slot->offset, word, (size_t)length) == 0) {
            return slot;
        }
        position = (position + 1) & mask;
    }
}

static int
grow_slots(WordTable *self)
{
    Py_ssize_t old_capacity = self->capacity;
    Slot *old = self->slots;
    Py_ssize_t capacity = old_capacity * 2;
    Slot *slots = PyMem_Calloc((size_t)capacity, sizeof(Slot));
    if (slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    size_t mask = (size_t)capacity - 1;
    for (Py_ssize_t i = 0; i < old_capacity; i++) {
        if (old[i].hash == 0) {
            continue;
        }
        size_t position = (size_t)old[i].hash & mask;
        while (slots[position].hash != 0) {
            position = (position + 1) & mask;
        }
        slots[position] = old[i];
    }
    PyMem_Free(old);
    self->slots = slots;
    self->capacity = capacity;
    return 0;
}

/* Store a lower-cased word in the empty slot found for it. Return the slot,
 * which moves when the table grows, or NULL with an exception set. */
static Slot *
insert(WordTable *self, Slot *slot, const unsigned char *word,
       Py_ssize_t length, uint64_t hash, int32_t value)
{
    if (length > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "word longer than 2 GiB");
        return NULL;
    }
    if (self->arena_used + length > self->arena_size) {
        Py_ssize_t size = self->arena_size * 2;
        while (size < self->arena_used + length) {
            size *= 2;
        }
        char *arena = PyMem_Realloc(self->arena, (size_t)size);
        if (arena == NULL) {
            PyErr_NoMemory();
            return NULL;
        }
        self->arena = arena;
        self->arena_size = size;
    }
    memcpy(self->arena + self->arena_used, word, (size_t)length);
    slot->hash = hash;
    slot->offset = self->arena_used;
    slot->length = (int32_t)length;
    slot->value = value;
    self->arena_used += length;
    self->used++;
    if (self->used * 10 > self->capacity * 7) {
        if (grow_slots(self) < 0) {
            return NULL;
        }
        return find_slot(self, word, length, hash);
    }
    return slot;
}

static int
allocate(WordTable *self, Py_ssize_t capacity, Py_ssize_t arena_size)
{
    self->slots = PyMem_Calloc((size_t)capacity, sizeof(Slot));
    self->arena = PyMem_Malloc((size_t)arena_size);
    if (self->slots == NULL || self->arena == NULL) {
        PyMem_Free(self->slots);
        PyMem_Free(self->arena);
        self->slots = NULL;
        self->arena = NULL;
        PyErr_NoMemory();
        return -1;
    }
    self->capacity = capacity;
    self->used = 0;
    self->arena_used = 0;
    self->arena_size = arena_size;
    return 0;
}

static int
WordTable_init(WordTable *self, PyObject *args, PyObject *kwds)
{
    static char *keywords[] = {"seed", "hash_lengths", NULL};
    unsigned long long seed = 0;
    PyObject *lengths = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|KO:WordTable", keywords,
                                     &seed, &lengths)) {
        return -1;
    }
    self->seed = (uint64_t)seed;
    memset(self->hash_length, 0, sizeof(self->hash_length));
    if (lengths != NULL) {
        PyObject *iterator = PyObject_GetIter(lengths);
        if (iterator == NULL) {
            return -1;
        }
        PyObject *item;
        while ((item = PyIter_Next(iterator)) != NULL) {
            long length = PyLong_AsLong(item);
            Py_DECREF(item);
            if (length == -1 && PyErr_Occurred()) {
                break;
            }
            if (length < 1 || length > MAX_HASH_LENGTH) {
                PyErr_Format(PyExc_ValueError,
                             "invalid hash length %ld: expected 1 to %d",
                             length, MAX_HASH_LENGTH);
                break;
            }
            self->hash_length[length] = 1;
        }
        Py_DECREF(iterator);
        if (PyErr_Occurred()) {
            return -1;
        }
    }
    PyMem_Free(self->slots);
    PyMem_Free(self->arena);
    return allocate(self, 1 << 16, 1 << 20);
}

static void
WordTable_dealloc(WordTable *self)
{
    PyMem_Free(self->slots);
    PyMem_Free(self->arena);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Find or add a word given as a bytes object, and set its value. */
static int
set_value(WordTable *self, PyObject *word, int32_t value)
{
    char *data;
    Py_ssize_t length;
    if (PyBytes_AsStringAndSize(word, &data, &length) < 0) {
        return -1;
    }
    unsigned char *lowered = PyMem_Malloc(length > 0 ? (size_t)length : 1);
    if (lowered == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < length; i++) {
        lowered[i] = word_byte[(unsigned char)data[i]];
    }
    uint64_t hash = hash_word(self, lowered, length);
    Slot *slot = find_slot(self, lowered, length, hash);
    int result = 0;
    if (slot->hash != 0) {
        slot->value = value;
    }
    else if (insert(self, slot, lowered, length, hash, value) == NULL) {
        result = -1;
    }
    PyMem_Free(lowered);
    return result;
}

/* Tell whether a word can match anything, from the shape the scan recorded.
 * These rules mirror PyWordTable._can_match in wordtable.py:
 * - without "." or ":", a word can only be a hash: hex of a hash length,
 *   though words of at most SHORT_WORD bytes are kept for the defang words;
 * - digits and dots can only be an IPv4 address, which has three dots
 *   before any trailing ones, because a domain's last label has a letter;
 * - digits and colons (times, counters) can only be IPv6 with "::" or six
 *   or more colons, or hold a hash-length run of digits (32 bytes or more).
 */
static inline int
can_match(const WordTable *self, Py_ssize_t length, unsigned char any_bits,
          unsigned char all_hex, Py_ssize_t dots, Py_ssize_t trailing_dots,
          Py_ssize_t colons, int double_colon)
{
    if (!(any_bits & (BYTE_DOT | BYTE_COLON))) {
        return length <= SHORT_WORD
               || (all_hex && length <= MAX_HASH_LENGTH
                   && self->hash_length[length]);
    }
    if (!(any_bits & BYTE_DIGIT)) {
        return 1;
    }
    if (!(any_bits & (BYTE_OTHER | BYTE_COLON))) {
        return dots - trailing_dots == 3;
    }
    if (!(any_bits & (BYTE_OTHER | BYTE_DOT))) {
        return double_colon || colons >= 6 || length >= 32;
    }
    return 1;
}

static PyObject *
WordTable_scan(WordTable *self, PyObject *arg)
{
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    const unsigned char *data = view.buf;
    Py_ssize_t size = view.len;
    PyObject *new_words = PyList_New(0);
    PyObject *hits = PyList_New(0);
    if (new_words == NULL || hits == NULL) {
        goto error;
    }
    unsigned char buffer[STACK_WORD];
    unsigned char *long_word = NULL;
    Py_ssize_t line_start = 0;
    Py_ssize_t line_index = 0;
    Py_ssize_t tabs = 0;
    Py_ssize_t brace_starts = 0; /* line breaks followed by "{" */
    Py_ssize_t brace_ends = 0;   /* line breaks after "}" */
    unsigned char shape = 0;
    Py_ssize_t last_hit_line = -1;
    int32_t last_hit_value = -1;
    Py_ssize_t i = 0;
    while (i < size) {
        unsigned char kind = word_byte[data[i]];
        if (kind == 0) {
            shape |= shape_bits[data[i]];
            tabs += data[i] == '\t';
            i++;
            continue;
        }
        if (kind == 1) {
            brace_ends += i > 0 && data[i - 1] == '}';
            if (i + 1 < size) {
                brace_starts += data[i + 1] == '{';
                if (data[i + 1] == '\n') {
                    shape |= SHAPE_BLANK_LINE;
                }
            }
            line_start = ++i;
            line_index++;
            continue;
        }
        Py_ssize_t start = i;
        unsigned char any_bits = 0;
        unsigned char all_hex = BYTE_HEX;
        Py_ssize_t dots = 0;
        Py_ssize_t trailing_dots = 0;
        Py_ssize_t colons = 0;
        int double_colon = 0;
        while (i < size && (kind = word_byte[data[i]]) > 1) {
            unsigned char bits = byte_bits[kind];
            if (i - start < STACK_WORD) {
                buffer[i - start] = kind;
            }
            any_bits |= bits;
            all_hex &= bits;
            if (bits & BYTE_DOT) {
                dots++;
                trailing_dots++;
            }
            else {
                trailing_dots = 0;
                if (bits & BYTE_COLON) {
                    double_colon |= colons > 0 && data[i - 1] == ':';
                    colons++;
                }
            }
            i++;
        }
        Py_ssize_t length = i - start;
        if (!can_match(self, length, any_bits, all_hex, dots, trailing_dots,
                       colons, double_colon)) {
            continue;
        }
        const unsigned char *word = buffer;
        if (length > STACK_WORD) {
            long_word = PyMem_Realloc(long_word, (size_t)length);
            if (long_word == NULL) {
                PyErr_NoMemory();
                goto error;
            }
            for (Py_ssize_t j = 0; j < length; j++) {
                long_word[j] = word_byte[data[start + j]];
            }
            word = long_word;
        }
        uint64_t hash = hash_word(self, word, length);
        Slot *slot = find_slot(self, word, length, hash);
        if (slot->hash == 0) {
            slot = insert(self, slot, word, length, hash, VALUE_PENDING);
            if (slot == NULL) {
                goto error;
            }
            PyObject *new_word = PyBytes_FromStringAndSize(
                self->arena + slot->offset, length);
            if (new_word == NULL || PyList_Append(new_words, new_word) < 0) {
                Py_XDECREF(new_word);
                goto error;
            }
            Py_DECREF(new_word);
            continue;
        }
        int32_t value = slot->value;
        if (value >= 0) {
            if (line_start == last_hit_line && value == last_hit_value) {
                continue;
            }
            last_hit_line = line_start;
            last_hit_value = value;
            PyObject *pair =
                Py_BuildValue("(nni)", line_start, line_index, (int)value);
            if (pair == NULL || PyList_Append(hits, pair) < 0) {
                Py_XDECREF(pair);
                goto error;
            }
            Py_DECREF(pair);
        }
    }
    PyMem_Free(long_word);
    PyBuffer_Release(&view);
    return Py_BuildValue("(NN(nnnni))", new_words, hits,
                         line_index, tabs,
                         brace_starts, brace_ends, (int)shape);

error:
    PyMem_Free(long_word);
    PyBuffer_Release(&view);
    Py_XDECREF(new_words);
    Py_XDECREF(hits);
    return NULL;
}

static PyObject *
WordTable_resolve(WordTable *self, PyObject *args)
{
    PyObject *words;
    PyObject *values;
    if (!PyArg_ParseTuple(args, "O!O!:resolve", &PyList_Type, &words,
                          &PyList_Type, &values)) {
        return NULL;
    }
    Py_ssize_t count = PyList_GET_SIZE(words);
    if (PyList_GET_SIZE(values) != count) {
        PyErr_SetString(PyExc_ValueError,
                        "resolve() needs one value per word");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        long value = PyLong_AsLong(PyList_GET_ITEM(values, i));
        if (value == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (value < VALUE_MISS || value > INT32_MAX) {
            PyErr_Format(PyExc_ValueError,
                         "invalid word value %ld: expected -1 or a needle id",
                         value);
            return NULL;
        }
        if (set_value(self, PyList_GET_ITEM(words, i), (int32_t)value) < 0) {
            return NULL;
        }
    }
    Py_RETURN_NONE;
}

/* Forget every word but needles. */
static PyObject *
WordTable_clear_misses(WordTable *self, PyObject *Py_UNUSED(ignored))
{
    Slot *old_slots = self->slots;
    char *old_arena = self->arena;
    Py_ssize_t old_capacity = self->capacity;
    if (allocate(self, 1 << 16, 1 << 20) < 0) {
        self->slots = old_slots;
        self->arena = old_arena;
        return NULL;
    }
    for (Py_ssize_t i = 0; i < old_capacity; i++) {
        Slot *old = &old_slots[i];
        if (old->hash == 0 || old->value < 0) {
            continue;
        }
        const unsigned char *word =
            (const unsigned char *)old_arena + old->offset;
        Slot *slot = find_slot(self, word, old->length, old->hash);
        if (insert(self, slot, word, old->length, old->hash, old->value)
            == NULL) {
            PyMem_Free(old_slots);
            PyMem_Free(old_arena);
            return NULL;
        }
    }
    PyMem_Free(old_slots);
    PyMem_Free(old_arena);
    Py_RETURN_NONE;
}

static Py_ssize_t
WordTable_length(WordTable *self)
{
    return self->used;
}

static PyObject *
WordTable_get_nbytes(WordTable *self, void *Py_UNUSED(closure))
{
    return PyLong_FromSsize_t(self->capacity * (Py_ssize_t)sizeof(Slot)
                              + self->arena_size);
}

static PyMethodDef WordTable_methods[] = {
    {"scan", (PyCFunction)WordTable_scan, METH_O,
     "scan(data) -> (new_words, hits, shape)\n\n"
     "Split a block into words and look up each that can match. new_words\n"
     "lists the words not seen before (lower case, once each), which are\n"
     "stored as pending; hits lists (line start, line index, needle id)\n"
     "triples; shape is (line breaks, tabs, line breaks followed by '{',\n"
     "line breaks after '}', flags): 1 control bytes, 2 non-ASCII,\n"
     "4 CR, 8 an empty line."},
    {"resolve", (PyCFunction)WordTable_resolve, METH_VARARGS,
     "resolve(words, values)\n\n"
     "Set the value of each word: -1 for a word that matches nothing, or a\n"
     "needle id >= 0 that scan() will report."},
    {"clear_misses", (PyCFunction)WordTable_clear_misses, METH_NOARGS,
     "clear_misses()\n\nForget every word but needles."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef WordTable_getset[] = {
    {"nbytes", (getter)WordTable_get_nbytes, NULL,
     "Bytes allocated for slots and stored words.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PySequenceMethods WordTable_as_sequence = {
    .sq_length = (lenfunc)WordTable_length,
};

static PyTypeObject WordTableType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "medisac.hunt._wordtable.WordTable",
    .tp_doc = PyDoc_STR("Words already classified by a hunt, and the block scan."),
    .tp_basicsize = sizeof(WordTable),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)WordTable_init,
    .tp_dealloc = (destructor)WordTable_dealloc,
    .tp_methods = WordTable_methods,
    .tp_getset = WordTable_getset,
    .tp_as_sequence = &WordTable_as_sequence,
};

static struct PyModuleDef wordtable_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "medisac.hunt._wordtable",
    .m_doc = PyDoc_STR("The compiled word table of the hunt sieve."),
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__wordtable(void)
{
    const char *word_chars = "abcdefghijklmnopqrstuvwxyz0123456789.-_:";
    for (const char *c = word_chars; *c; c++) {
        word_byte[(unsigned char)*c] = (unsigned char)*c;
    }
    for (int c = 'A'; c <= 'Z'; c++) {
        word_byte[c] = (unsigned char)(c + 32);
    }
    word_byte['\n'] = 1;
    for (const char *c = "abcdefghijklmnopqrstuvwxyz-_"; *c; c++) {
        byte_bits[(unsigned char)*c] = BYTE_OTHER;
    }
    for (const char *c = "abcdef"; *c; c++) {
        byte_bits[(unsigned char)*c] |= BYTE_HEX;
    }
    for (const char *c = "0123456789"; *c; c++) {
        byte_bits[(unsigned char)*c] = BYTE_HEX | BYTE_DIGIT;
    }
    for (int c = 0; c < 0x20; c++) {
        shape_bits[c] = SHAPE_CONTROL;
    }
    shape_bits['\t'] = 0;
    shape_bits['\n'] = 0;
    shape_bits['\r'] = SHAPE_CR;
    shape_bits[0x7f] = SHAPE_CONTROL;
    for (int c = 0x80; c < 0x100; c++) {
        shape_bits[c] = SHAPE_NON_ASCII;
    }
    byte_bits['.'] = BYTE_DOT;
    byte_bits[':'] = BYTE_COLON;
    if (PyType_Ready(&WordTableType) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&wordtable_module);
    if (module == NULL) {
        return NULL;
    }
    Py_INCREF(&WordTableType);
    if (PyModule_AddObject(module, "WordTable", (PyObject *)&WordTableType)
        < 0) {
        Py_DECREF(&WordTableType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
