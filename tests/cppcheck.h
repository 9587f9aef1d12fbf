/* SPDX-License-Identifier: MIT */
/* Given to cppcheck (tests/cppcheck.sh), which does not read the system's
 * sys/queue.h: the iteration macro the code uses, so it can follow the
 * loops. */
#define TAILQ_FOREACH(var, head, field)                                        \
	for ((var) = ((head)->tqh_first); (var); (var) = ((var)->field.tqe_next))
