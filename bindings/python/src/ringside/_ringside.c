/* SPDX-License-Identifier: MIT */
/*
 * _ringside.c: the CPython extension over libringside. Client.send() is
 * one vectorcall into ringside_sendv() with the GIL held: the send never
 * blocks and takes about a hundred nanoseconds, so there is nothing to
 * release the GIL for, and the arguments are read straight from the
 * objects (bytes without a copy, str as its cached UTF-8). flush() and the
 * topic lookup, which wait on the daemon, release it.
 *
 * A per-record callback is kept in a dict under the record's opaque until
 * its final report. The contract allows dropped reports, so the dict is
 * bounded: at max_callbacks entries send(on_delivery=...) raises Full
 * (sends without a callback still go), and close() lets go of the rest,
 * counting them in callbacks_abandoned.
 *
 * Over 900 lines: a CPython extension module is one file (its types,
 * their methods and the module table refer to each other statically);
 * its sections are errors, topics, the Client, then the module.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include "ringside.h"

#define HEADERS_MAX 64

static PyObject *Error, *Full;
static PyTypeObject ReportType, StateType;

/* ---------------------------------------------------------------- errors */

/* Raises exc (Error or Full) with .code and msg. */
static PyObject *raise_msg(PyObject *exc, int code, const char *msg)
{
	PyObject *e = PyObject_CallFunction(exc, "is", code, msg);

	if (e != NULL) {
		PyObject *c = PyLong_FromLong(code);

		if (c != NULL) {
			(void)PyObject_SetAttrString(e, "code", c);
			Py_DECREF(c);
		}
		PyErr_SetObject(exc, e);
		Py_DECREF(e);
	}
	return NULL;
}

static PyObject *raise_rc(int rc)
{
	return raise_msg(rc == RINGSIDE_EFULL ? Full : Error, rc,
			 ringside_strerror(rc));
}

/* ---------------------------------------------------------------- topic */

typedef struct {
	PyObject_HEAD
	ringside_topic_t *t; /* lives as long as the client */
	PyObject *name;
	PyObject *client; /* a strong reference: keeps t valid */
} TopicObject;

static void topic_dealloc(TopicObject *self)
{
	Py_XDECREF(self->name);
	Py_XDECREF(self->client);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *topic_repr(TopicObject *self)
{
	return PyUnicode_FromFormat("<ringside.Topic %R>", self->name);
}

static PyMemberDef topic_members[] = {
	{ "name", T_OBJECT, offsetof(TopicObject, name), READONLY,
	  "The topic's name." },
	{ NULL },
};

static PyTypeObject TopicType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ringside.Topic",
	.tp_basicsize = sizeof(TopicObject),
	.tp_dealloc = (destructor)topic_dealloc,
	.tp_repr = (reprfunc)topic_repr,
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "A topic resolved by Client.topic(); valid until the client "
		  "closes.",
	.tp_members = topic_members,
};

/* ---------------------------------------------------------------- client */

typedef struct {
	PyObject_HEAD
	ringside_t *rs;
	PyObject *topics;    /* name -> Topic */
	PyObject *callbacks; /* opaque -> callable, until the final report */
	PyObject *on_report; /* every report of a record without a callback */
	PyObject *error;     /* the first exception a callback raised */
	uint64_t next_opaque;
	Py_ssize_t max_callbacks;
	unsigned long long abandoned;
	int busy; /* a flush() is waiting without the GIL */
	PyObject *weakrefs;
	PyObject *dict;
} ClientObject;

static int client_open(ClientObject *self)
{
	if (self->rs == NULL) {
		PyErr_SetString(PyExc_ValueError, "the client is closed");
		return -1;
	}
	return 0;
}

static int client_init(ClientObject *self, PyObject *args, PyObject *kw)
{
	static char *names[] = { "socket",	  "name",	   "timeout",
				 "reconnect",	  "on_report",	   "max_callbacks",
				 NULL };
	const char *socket = NULL, *name = NULL;
	double timeout = 5.0;
	int reconnect = 1;
	PyObject *on_report = Py_None;
	Py_ssize_t max_callbacks = 1 << 20;
	ringside_options_t o;
	char err[256];

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|zzdpOn", names, &socket,
					 &name, &timeout, &reconnect,
					 &on_report, &max_callbacks))
		return -1;
	if (self->rs != NULL) {
		PyErr_SetString(PyExc_RuntimeError, "already open");
		return -1;
	}
	if (on_report != Py_None && !PyCallable_Check(on_report)) {
		PyErr_SetString(PyExc_TypeError, "on_report must be callable");
		return -1;
	}
	if (timeout <= 0 || timeout > 3600 || max_callbacks < 0) {
		PyErr_SetString(PyExc_ValueError,
				"timeout must be in (0, 3600] seconds and "
				"max_callbacks at least 0");
		return -1;
	}
	memset(&o, 0, sizeof(o));
	o.socket_path = socket;
	o.name = name;
	o.timeout_ms = (int)(timeout * 1000);
	o.flags = reconnect ? 0 : RINGSIDE_OPEN_NO_RECONNECT;
	self->topics = PyDict_New();
	self->callbacks = PyDict_New();
	if (self->topics == NULL || self->callbacks == NULL)
		return -1;
	Py_INCREF(on_report);
	self->on_report = on_report;
	self->max_callbacks = max_callbacks;
	err[0] = '\0';
	Py_BEGIN_ALLOW_THREADS
	self->rs = ringside_open_opts(&o, err, sizeof(err));
	Py_END_ALLOW_THREADS
	if (self->rs == NULL) {
		raise_msg(Error, RINGSIDE_ENOTCONN, err);
		return -1;
	}
	return 0;
}

static void client_release(ClientObject *self)
{
	if (self->rs != NULL) {
		ringside_close(self->rs);
		self->rs = NULL;
	}
	if (self->callbacks != NULL) {
		self->abandoned += (unsigned long long)PyDict_Size(self->callbacks);
		PyDict_Clear(self->callbacks);
	}
	if (self->topics != NULL)
		PyDict_Clear(self->topics);
}

static int client_traverse(ClientObject *self, visitproc visit, void *arg)
{
	Py_VISIT(self->topics);
	Py_VISIT(self->callbacks);
	Py_VISIT(self->on_report);
	Py_VISIT(self->error);
	Py_VISIT(self->dict);
	return 0;
}

static int client_clear(ClientObject *self)
{
	Py_CLEAR(self->topics);
	Py_CLEAR(self->callbacks);
	Py_CLEAR(self->on_report);
	Py_CLEAR(self->error);
	Py_CLEAR(self->dict);
	return 0;
}

static void client_dealloc(ClientObject *self)
{
	PyObject_GC_UnTrack(self);
	if (self->weakrefs != NULL)
		PyObject_ClearWeakRefs((PyObject *)self);
	if (self->rs != NULL && !self->busy) {
		ringside_close(self->rs);
		self->rs = NULL;
	}
	client_clear(self);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

/* The Topic for obj (a Topic of this client or a name), borrowed. */
static TopicObject *client_topic_of(ClientObject *self, PyObject *obj)
{
	TopicObject *t;
	ringside_topic_t *h;
	const char *name;
	int rc;

	if (Py_IS_TYPE(obj, &TopicType)) {
		t = (TopicObject *)obj;
		if (t->client != (PyObject *)self) {
			PyErr_SetString(PyExc_ValueError,
					"the topic belongs to another client");
			return NULL;
		}
		return t;
	}
	if (!PyUnicode_Check(obj)) {
		PyErr_SetString(PyExc_TypeError,
				"topic must be a str or a ringside.Topic");
		return NULL;
	}
	t = (TopicObject *)PyDict_GetItemWithError(self->topics, obj);
	if (t != NULL || PyErr_Occurred())
		return t;
	name = PyUnicode_AsUTF8(obj);
	if (name == NULL)
		return NULL;
	self->busy++; /* close() waits for none, so it refuses meanwhile */
	Py_BEGIN_ALLOW_THREADS
	rc = ringside_topic(self->rs, name, &h);
	Py_END_ALLOW_THREADS
	self->busy--;
	if (rc < 0) {
		raise_rc(rc);
		return NULL;
	}
	/* another thread may have resolved it meanwhile: the same handle */
	t = (TopicObject *)PyDict_GetItemWithError(self->topics, obj);
	if (t != NULL || PyErr_Occurred())
		return t;
	t = PyObject_New(TopicObject, &TopicType);
	if (t == NULL)
		return NULL;
	t->t = h;
	Py_INCREF(obj);
	t->name = obj;
	Py_INCREF(self);
	t->client = (PyObject *)self;
	rc = PyDict_SetItem(self->topics, obj, (PyObject *)t);
	Py_DECREF(t); /* the dict holds it */
	return rc < 0 ? NULL : t;
}

static PyObject *client_topic(ClientObject *self, PyObject *name)
{
	TopicObject *t;

	if (client_open(self) < 0)
		return NULL;
	if (!PyUnicode_Check(name)) {
		PyErr_SetString(PyExc_TypeError, "the name must be a str");
		return NULL;
	}
	t = client_topic_of(self, name);
	Py_XINCREF(t);
	return (PyObject *)t;
}

/* Bytes of a key, value or header value: None (NULL), bytes, str (UTF-8)
 * or any buffer (held in *view until buf_release). 0 or -1. */
static int buf_get(PyObject *o, const void **p, size_t *len, Py_buffer *view,
		   const char *what)
{
	view->obj = NULL;
	if (o == NULL || o == Py_None) {
		*p = NULL;
		*len = 0;
		return 0;
	}
	if (PyBytes_CheckExact(o)) {
		*p = PyBytes_AS_STRING(o);
		*len = (size_t)PyBytes_GET_SIZE(o);
		return 0;
	}
	if (PyUnicode_Check(o)) {
		Py_ssize_t n;

		*p = PyUnicode_AsUTF8AndSize(o, &n);
		*len = (size_t)n;
		return *p != NULL ? 0 : -1;
	}
	if (PyObject_GetBuffer(o, view, PyBUF_SIMPLE) < 0) {
		PyErr_Format(PyExc_TypeError,
			     "%s must be bytes, str, a buffer or None, not %.80s",
			     what, Py_TYPE(o)->tp_name);
		return -1;
	}
	*p = view->buf;
	*len = (size_t)view->len;
	return 0;
}

static void buf_release(Py_buffer *view)
{
	if (view->obj != NULL)
		PyBuffer_Release(view);
}

/* headers: a mapping or an iterable of (name, value) pairs. The pairs are
 * kept alive in *keep. Returns the count, or -1. */
static int headers_get(PyObject *o, ringside_header_t *h, Py_buffer *views,
		       PyObject **keep)
{
	PyObject *seq;
	Py_ssize_t n;

	*keep = NULL;
	if (o == NULL || o == Py_None)
		return 0;
	seq = PyDict_Check(o) ? PyDict_Items(o)
			      : PySequence_Fast(o, "headers must be a dict or "
						   "a sequence of pairs");
	if (seq == NULL)
		return -1;
	*keep = seq;
	n = PySequence_Fast_GET_SIZE(seq);
	if (n > HEADERS_MAX) {
		PyErr_Format(PyExc_ValueError, "at most %d headers",
			     HEADERS_MAX);
		return -1;
	}
	for (Py_ssize_t i = 0; i < n; i++) {
		PyObject *pair = PySequence_Fast_GET_ITEM(seq, i), *name;

		views[i].obj = NULL;
		if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2 ||
		    !PyUnicode_Check(PyTuple_GET_ITEM(pair, 0))) {
			PyErr_SetString(PyExc_TypeError,
					"a header is a (str, value) pair");
			return -1;
		}
		name = PyTuple_GET_ITEM(pair, 0);
		h[i].name = PyUnicode_AsUTF8(name);
		if (h[i].name == NULL ||
		    buf_get(PyTuple_GET_ITEM(pair, 1), &h[i].value,
			    &h[i].value_len, &views[i], "a header value") < 0)
			return -1;
	}
	return (int)n;
}

enum { A_TOPIC, A_VALUE, A_KEY, A_HEADERS, A_PARTITION, A_TIMESTAMP,
       A_ON_DELIVERY, A_N };
static PyObject *send_names[A_N];

static PyObject *client_send(ClientObject *self, PyObject *const *args,
			     Py_ssize_t nargsf, PyObject *kwnames)
{
	PyObject *a[A_N] = { NULL };
	Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
	ringside_header_t hdrs[HEADERS_MAX];
	Py_buffer vk, vv, hv[HEADERS_MAX];
	PyObject *keep = NULL, *op = NULL;
	ringside_record_t rec;
	TopicObject *t;
	int nh = 0, rc = -1;

	if (nargs > A_N) {
		PyErr_SetString(PyExc_TypeError, "send() takes at most 7 "
						 "arguments");
		return NULL;
	}
	for (Py_ssize_t i = 0; i < nargs; i++)
		a[i] = args[i];
	if (kwnames != NULL) {
		for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(kwnames); i++) {
			PyObject *k = PyTuple_GET_ITEM(kwnames, i);
			int j;

			for (j = 0; j < A_N; j++)
				if (k == send_names[j] ||
				    PyUnicode_Compare(k, send_names[j]) == 0)
					break;
			if (j == A_N || a[j] != NULL) {
				PyErr_Format(PyExc_TypeError,
					     "send(): %s argument '%U'",
					     j == A_N ? "unexpected"
						      : "repeated",
					     k);
				return NULL;
			}
			a[j] = args[nargs + i];
		}
	}
	if (a[A_TOPIC] == NULL || a[A_VALUE] == NULL) {
		PyErr_SetString(PyExc_TypeError,
				"send() needs a topic and a value");
		return NULL;
	}
	if (client_open(self) < 0)
		return NULL;
	t = client_topic_of(self, a[A_TOPIC]);
	if (t == NULL)
		return NULL;
	memset(&rec, 0, sizeof(rec));
	vk.obj = vv.obj = NULL;
	if (buf_get(a[A_VALUE], &rec.value, &rec.value_len, &vv, "value") < 0 ||
	    buf_get(a[A_KEY], &rec.key, &rec.key_len, &vk, "key") < 0)
		goto out;
	if (a[A_PARTITION] != NULL && a[A_PARTITION] != Py_None) {
		long p = PyLong_AsLong(a[A_PARTITION]);

		if (p == -1 && PyErr_Occurred())
			goto out;
		if (p < 0 || p > INT32_MAX) {
			PyErr_SetString(PyExc_ValueError,
					"partition must be 0 or more");
			goto out;
		}
		rec.partition = (int32_t)p;
		rec.flags |= RINGSIDE_REC_PARTITION;
	}
	if (a[A_TIMESTAMP] != NULL && a[A_TIMESTAMP] != Py_None) {
		long long ts = PyLong_AsLongLong(a[A_TIMESTAMP]);

		if (ts == -1 && PyErr_Occurred())
			goto out;
		if (ts < 0) {
			PyErr_SetString(PyExc_ValueError,
					"timestamp is ms since the epoch, 0 "
					"or more");
			goto out;
		}
		rec.timestamp = ts;
	}
	nh = headers_get(a[A_HEADERS], hdrs, hv, &keep);
	if (nh < 0) {
		nh = 0;
		goto out;
	}
	rec.headers = nh > 0 ? hdrs : NULL;
	rec.header_count = (size_t)nh;
	if (a[A_ON_DELIVERY] != NULL && a[A_ON_DELIVERY] != Py_None) {
		if (!PyCallable_Check(a[A_ON_DELIVERY])) {
			PyErr_SetString(PyExc_TypeError,
					"on_delivery must be callable");
			goto out;
		}
		if (PyDict_GET_SIZE(self->callbacks) >= self->max_callbacks) {
			raise_msg(Full, RINGSIDE_EFULL,
				  "max_callbacks delivery callbacks wait for "
				  "their reports: poll() first");
			goto out;
		}
		rec.opaque = ++self->next_opaque;
		op = PyLong_FromUnsignedLongLong(rec.opaque);
		if (op == NULL ||
		    PyDict_SetItem(self->callbacks, op, a[A_ON_DELIVERY]) < 0)
			goto out;
	}
	rc = ringside_sendv(self->rs, t->t, &rec);
	if (rc < 0) {
		if (op != NULL)
			(void)PyDict_DelItem(self->callbacks, op);
		raise_rc(rc);
	}
out:
	buf_release(&vv);
	buf_release(&vk);
	for (int i = 0; i < nh; i++)
		buf_release(&hv[i]);
	Py_XDECREF(keep);
	Py_XDECREF(op);
	if (rc < 0)
		return NULL;
	Py_RETURN_NONE;
}

/* One report as a Report; NULL with an exception set. */
static PyObject *report_new(const ringside_report_t *r)
{
	PyObject *o = PyStructSequence_New(&ReportType);
	const char *name = ringside_topic_name(r->topic);

	if (o == NULL)
		return NULL;
	PyStructSequence_SET_ITEM(o, 0, PyUnicode_FromString(name ? name : ""));
	PyStructSequence_SET_ITEM(o, 1, PyLong_FromLong(r->partition));
	PyStructSequence_SET_ITEM(o, 2, PyLong_FromLongLong(r->offset));
	PyStructSequence_SET_ITEM(o, 3, PyLong_FromLongLong(r->timestamp));
	PyStructSequence_SET_ITEM(o, 4, PyLong_FromLong(r->status));
	PyStructSequence_SET_ITEM(
		o, 5,
		r->status == 0 ? (Py_INCREF(Py_None), Py_None)
			       : PyUnicode_FromString(ringside_strerror(r->status)));
	PyStructSequence_SET_ITEM(o, 6, PyLong_FromLong(r->kafka_error));
	PyStructSequence_SET_ITEM(o, 7, PyLong_FromLong((long)r->stage));
	PyStructSequence_SET_ITEM(o, 8, PyLong_FromLong((long)r->persistence));
	for (int i = 0; i < 9; i++)
		if (PyStructSequence_GET_ITEM(o, i) == NULL) {
			Py_DECREF(o);
			return NULL;
		}
	return o;
}

/* Keeps the first exception a callback raised; poll() raises it after. */
static void client_keep_error(ClientObject *self)
{
	if (self->error == NULL) {
		PyObject *t, *v, *tb;

		PyErr_Fetch(&t, &v, &tb);
		PyErr_NormalizeException(&t, &v, &tb);
		if (tb != NULL)
			(void)PyException_SetTraceback(v, tb);
		self->error = v;
		Py_XDECREF(t);
		Py_XDECREF(tb);
	} else {
		PyErr_Clear();
	}
}

static void client_deliver(ClientObject *self, const ringside_report_t *r)
{
	PyObject *cb = NULL, *op = NULL, *rep, *res;
	int final = r->stage != RINGSIDE_STAGE_SPOOLED;

	if (r->opaque != 0) {
		op = PyLong_FromUnsignedLongLong(r->opaque);
		if (op == NULL) {
			client_keep_error(self);
			return;
		}
		cb = PyDict_GetItemWithError(self->callbacks, op);
		Py_XINCREF(cb);
		if (cb != NULL && final)
			(void)PyDict_DelItem(self->callbacks, op);
		Py_DECREF(op);
		if (PyErr_Occurred()) {
			Py_XDECREF(cb);
			client_keep_error(self);
			return;
		}
	}
	if (cb != NULL && !final) {
		Py_DECREF(cb); /* the final report follows */
		cb = NULL;
		if (self->on_report == Py_None)
			return;
	}
	if (cb == NULL) {
		if (self->on_report == Py_None)
			return;
		cb = self->on_report;
		Py_INCREF(cb);
	}
	rep = report_new(r);
	res = rep != NULL ? PyObject_CallOneArg(cb, rep) : NULL;
	if (res == NULL)
		client_keep_error(self);
	Py_XDECREF(res);
	Py_XDECREF(rep);
	Py_DECREF(cb);
}

static void on_report_gil(const ringside_report_t *r, void *ctx)
{
	client_deliver(ctx, r);
}

/* From flush(), which runs without the GIL. */
static void on_report_nogil(const ringside_report_t *r, void *ctx)
{
	PyGILState_STATE g = PyGILState_Ensure();

	client_deliver(ctx, r);
	PyGILState_Release(g);
}

static PyObject *client_raise_kept(ClientObject *self)
{
	PyObject *e = self->error;

	self->error = NULL;
	PyErr_SetObject((PyObject *)Py_TYPE(e), e);
	Py_DECREF(e);
	return NULL;
}

static PyObject *client_poll(ClientObject *self, PyObject *unused)
{
	int n;

	if (client_open(self) < 0)
		return NULL;
	n = ringside_poll(self->rs, on_report_gil, self);
	if (self->error != NULL)
		return client_raise_kept(self);
	if (n < 0)
		return raise_rc(n);
	return PyLong_FromLong(n);
}

static PyObject *client_flush(ClientObject *self, PyObject *args,
			      PyObject *kw)
{
	static char *names[] = { "timeout", NULL };
	PyObject *timeout = Py_None;
	int ms = -1, rc;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|O", names, &timeout))
		return NULL;
	if (client_open(self) < 0)
		return NULL;
	if (timeout != Py_None) {
		double s = PyFloat_AsDouble(timeout);

		if (s == -1.0 && PyErr_Occurred())
			return NULL;
		ms = s <= 0 ? 0 : s > 86400 ? 86400000 : (int)(s * 1000);
	}
	self->busy++;
	Py_BEGIN_ALLOW_THREADS
	rc = ringside_flush(self->rs, ms, on_report_nogil, self);
	Py_END_ALLOW_THREADS
	self->busy--;
	if (self->error != NULL)
		return client_raise_kept(self);
	if (rc == RINGSIDE_ETIMEDOUT)
		Py_RETURN_FALSE;
	if (rc < 0 && rc != RINGSIDE_EDROPPED)
		return raise_rc(rc);
	Py_RETURN_TRUE;
}

static PyObject *client_fileno(ClientObject *self, PyObject *unused)
{
	if (client_open(self) < 0)
		return NULL;
	return PyLong_FromLong(ringside_fd(self->rs));
}

static PyObject *client_state(ClientObject *self, PyObject *unused)
{
	static const char *bp[] = { "healthy", "spilling", "refusing",
				    "stopping", "disconnected" };
	ringside_state_t st;
	PyObject *o;
	int rc;

	if (client_open(self) < 0)
		return NULL;
	rc = ringside_state(self->rs, &st);
	if (rc < 0)
		return raise_rc(rc);
	o = PyStructSequence_New(&StateType);
	if (o == NULL)
		return NULL;
	PyStructSequence_SET_ITEM(
		o, 0,
		PyUnicode_FromString((unsigned)st.backpressure < 5
					     ? bp[st.backpressure]
					     : "unknown"));
	PyStructSequence_SET_ITEM(o, 1, PyLong_FromSize_t(st.ring_size));
	PyStructSequence_SET_ITEM(o, 2, PyLong_FromSize_t(st.ring_used));
	PyStructSequence_SET_ITEM(
		o, 3, PyLong_FromUnsignedLongLong(st.records_finished));
	PyStructSequence_SET_ITEM(
		o, 4, PyLong_FromUnsignedLongLong(st.reports_dropped));
	PyStructSequence_SET_ITEM(
		o, 5, PyLong_FromSsize_t(PyDict_GET_SIZE(self->callbacks)));
	for (int i = 0; i < 6; i++)
		if (PyStructSequence_GET_ITEM(o, i) == NULL) {
			Py_DECREF(o);
			return NULL;
		}
	return o;
}

static PyObject *client_close(ClientObject *self, PyObject *unused)
{
	if (self->busy) {
		PyErr_SetString(PyExc_RuntimeError,
				"close() while another thread waits in flush() "
				"or a topic lookup");
		return NULL;
	}
	client_release(self);
	Py_RETURN_NONE;
}

static PyObject *client_get_closed(ClientObject *self, void *unused)
{
	return PyBool_FromLong(self->rs == NULL);
}

static PyObject *client_get_abandoned(ClientObject *self, void *unused)
{
	return PyLong_FromUnsignedLongLong(self->abandoned);
}

static PyMethodDef client_methods[] = {
	{ "topic", (PyCFunction)client_topic, METH_O,
	  "topic(name) -> Topic: resolves a topic once (a round trip)." },
	{ "send", (PyCFunction)(void (*)(void))client_send,
	  METH_FASTCALL | METH_KEYWORDS,
	  "send(topic, value, key=None, headers=None, partition=None, "
	  "timestamp=None, on_delivery=None)\n\nWrites one record into the "
	  "ring and returns at once; raises Full when the ring is full." },
	{ "poll", (PyCFunction)client_poll, METH_NOARGS,
	  "poll() -> int: runs the callbacks of waiting reports; never "
	  "blocks." },
	{ "flush", (PyCFunction)(void (*)(void))client_flush,
	  METH_VARARGS | METH_KEYWORDS,
	  "flush(timeout=None) -> bool: waits until every record sent so "
	  "far is finished (delivered, failed or spooled), running "
	  "callbacks; False on timeout." },
	{ "fileno", (PyCFunction)client_fileno, METH_NOARGS,
	  "fileno() -> int: readable when reports wait (selectors, "
	  "asyncio); it is armed by a poll() that finds nothing, so call "
	  "poll() until it returns 0 (poll_all()) before waiting on it." },
	{ "state", (PyCFunction)client_state, METH_NOARGS,
	  "state() -> State: the ring's fill and the daemon's back-pressure, "
	  "read from shared memory." },
	{ "close", (PyCFunction)client_close, METH_NOARGS,
	  "close(): ends the session at once (accepted records are still "
	  "delivered; their reports are lost)." },
	{ NULL },
};

static PyGetSetDef client_getset[] = {
	{ "closed", (getter)client_get_closed, NULL, "True once closed.",
	  NULL },
	{ "callbacks_abandoned", (getter)client_get_abandoned, NULL,
	  "Delivery callbacks let go of at close() without a final report.",
	  NULL },
	{ NULL },
};

static PyTypeObject ClientType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ringside._ringside.Client",
	.tp_basicsize = sizeof(ClientObject),
	.tp_dealloc = (destructor)client_dealloc,
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
	.tp_doc = "A session with ringsided.",
	.tp_traverse = (traverseproc)client_traverse,
	.tp_clear = (inquiry)client_clear,
	.tp_weaklistoffset = offsetof(ClientObject, weakrefs),
	.tp_dictoffset = offsetof(ClientObject, dict),
	.tp_methods = client_methods,
	.tp_getset = client_getset,
	.tp_init = (initproc)client_init,
	.tp_new = PyType_GenericNew,
};

/* ---------------------------------------------------------------- module */

static PyStructSequence_Field report_fields[] = {
	{ "topic", "the topic's name" },
	{ "partition", "-1 when unknown" },
	{ "offset", "-1 when unknown (acks=0, failures, spooled)" },
	{ "timestamp", "ms since the epoch" },
	{ "status", "0 delivered, else a negative ringside code" },
	{ "error", "the status explained, None when delivered" },
	{ "kafka_error", "librdkafka's error code, 0 if none" },
	{ "stage", "STAGE_FAILED, STAGE_ACKED, STAGE_SENT or STAGE_SPOOLED" },
	{ "persistence",
	  "NOT_PERSISTED, POSSIBLY_PERSISTED or PERSISTED" },
	{ NULL },
};

static PyStructSequence_Desc report_desc = {
	"ringside.Report", "A record's fate, as ringsided reported it.",
	report_fields, 9
};

static PyStructSequence_Field state_fields[] = {
	{ "backpressure",
	  "healthy, spilling, refusing, stopping or disconnected" },
	{ "ring_size", "bytes" },
	{ "ring_used", "bytes sent and not yet finished" },
	{ "records_finished", "records the daemon finished, this session" },
	{ "reports_dropped", "reports the reply queue could not hold" },
	{ "callbacks_waiting", "delivery callbacks waiting for a report" },
	{ NULL },
};

static PyStructSequence_Desc state_desc = {
	"ringside.State", "A session's state.", state_fields, 6
};

static PyObject *mod_strerror(PyObject *m, PyObject *arg)
{
	long code = PyLong_AsLong(arg);

	if (code == -1 && PyErr_Occurred())
		return NULL;
	return PyUnicode_FromString(ringside_strerror((int)code));
}

static PyObject *mod_version(PyObject *m, PyObject *unused)
{
	return PyUnicode_FromString(ringside_version());
}

static PyMethodDef mod_methods[] = {
	{ "strerror", mod_strerror, METH_O, "Explains a ringside code." },
	{ "library_version", mod_version, METH_NOARGS,
	  "The libringside version compiled in." },
	{ NULL },
};

/* PyModule_AddObjectRef() is 3.10's; this is it for 3.9. */
static int mod_add(PyObject *m, const char *name, PyObject *o)
{
	Py_INCREF(o);
	if (PyModule_AddObject(m, name, o) < 0) {
		Py_DECREF(o);
		return -1;
	}
	return 0;
}

static struct PyModuleDef mod = {
	PyModuleDef_HEAD_INIT, "ringside._ringside",
	"The C core of the ringside package.", -1, mod_methods,
};

PyMODINIT_FUNC PyInit__ringside(void)
{
	static const char *const sn[A_N] = { "topic",	  "value",
					     "key",	  "headers",
					     "partition", "timestamp",
					     "on_delivery" };
	static const struct {
		const char *name;
		long value;
	} consts[] = {
		{ "EFULL", RINGSIDE_EFULL },
		{ "ETOOBIG", RINGSIDE_ETOOBIG },
		{ "ENOTCONN", RINGSIDE_ENOTCONN },
		{ "EINVAL", RINGSIDE_EINVAL },
		{ "ETOPIC", RINGSIDE_ETOPIC },
		{ "EPROTO", RINGSIDE_EPROTO },
		{ "EDENIED", RINGSIDE_EDENIED },
		{ "ELIMIT", RINGSIDE_ELIMIT },
		{ "ETIMEDOUT", RINGSIDE_ETIMEDOUT },
		{ "EDROPPED", RINGSIDE_EDROPPED },
		{ "EMSG_TIMEOUT", RINGSIDE_EMSG_TIMEOUT },
		{ "ERECORD_TOO_LARGE", RINGSIDE_ERECORD_TOO_LARGE },
		{ "EUNKNOWN_TOPIC", RINGSIDE_EUNKNOWN_TOPIC },
		{ "EAUTH", RINGSIDE_EAUTH },
		{ "ESHUTDOWN", RINGSIDE_ESHUTDOWN },
		{ "EKAFKA", RINGSIDE_EKAFKA },
		{ "STAGE_FAILED", RINGSIDE_STAGE_FAILED },
		{ "STAGE_ACKED", RINGSIDE_STAGE_ACKED },
		{ "STAGE_SENT", RINGSIDE_STAGE_SENT },
		{ "STAGE_SPOOLED", RINGSIDE_STAGE_SPOOLED },
		{ "NOT_PERSISTED", RINGSIDE_NOT_PERSISTED },
		{ "POSSIBLY_PERSISTED", RINGSIDE_POSSIBLY_PERSISTED },
		{ "PERSISTED", RINGSIDE_PERSISTED },
	};
	PyObject *m;

	for (int i = 0; i < A_N; i++) {
		send_names[i] = PyUnicode_InternFromString(sn[i]);
		if (send_names[i] == NULL)
			return NULL;
	}
	if (PyType_Ready(&TopicType) < 0 || PyType_Ready(&ClientType) < 0 ||
	    (ReportType.tp_name == NULL &&
	     PyStructSequence_InitType2(&ReportType, &report_desc) < 0) ||
	    (StateType.tp_name == NULL &&
	     PyStructSequence_InitType2(&StateType, &state_desc) < 0))
		return NULL;
	m = PyModule_Create(&mod);
	if (m == NULL)
		return NULL;
	Error = PyErr_NewExceptionWithDoc(
		"ringside.Error",
		"A ringside call failed: args are (code, message); .code is "
		"the library's negative code.",
		NULL, NULL);
	Full = PyErr_NewExceptionWithDoc(
		"ringside.Full",
		"The ring is full (or max_callbacks reached): nothing was sent; "
		"try again later.",
		Error, NULL);
	if (Error == NULL || Full == NULL || mod_add(m, "Error", Error) < 0 ||
	    mod_add(m, "Full", Full) < 0 ||
	    mod_add(m, "Client", (PyObject *)&ClientType) < 0 ||
	    mod_add(m, "Topic", (PyObject *)&TopicType) < 0 ||
	    mod_add(m, "Report", (PyObject *)&ReportType) < 0 ||
	    mod_add(m, "State", (PyObject *)&StateType) < 0)
		return NULL;
	for (size_t i = 0; i < sizeof(consts) / sizeof(consts[0]); i++)
		if (PyModule_AddIntConstant(m, consts[i].name,
					    consts[i].value) < 0)
			return NULL;
	return m;
}
