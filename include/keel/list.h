/* Intrusive doubly linked circular lists. */
#ifndef KEEL_LIST_H
#define KEEL_LIST_H

#include <keel/compiler.h>

struct list_node {
	struct list_node *next, *prev;
};

#define LIST_INIT(name)          \
	{                        \
		&(name), &(name) \
	}

static inline void list_init(struct list_node *h)
{
	h->next = h->prev = h;
}

static inline bool list_is_empty(const struct list_node *h)
{
	return h->next == h;
}

static inline void list_insert_after(struct list_node *pos, struct list_node *n)
{
	n->prev = pos;
	n->next = pos->next;
	pos->next->prev = n;
	pos->next = n;
}

static inline void list_push_front(struct list_node *h, struct list_node *n)
{
	list_insert_after(h, n);
}

static inline void list_push_back(struct list_node *h, struct list_node *n)
{
	list_insert_after(h->prev, n);
}

static inline void list_remove(struct list_node *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->next = n->prev = n;
}

#define list_entry(ptr, type, member) container_of(ptr, type, member)
#define list_for_each(it, head) for ((it) = (head)->next; (it) != (head); (it) = (it)->next)
#define list_for_each_safe(it, tmp, head)                             \
	for ((it) = (head)->next, (tmp) = (it)->next; (it) != (head); \
	     (it) = (tmp), (tmp) = (it)->next)

#endif
