/* A rule body's selectors, shared by the kernel's rules (compile.c) and steer.yaml's
 * policies (compile-policy.c). */
#include <sys/socket.h>

#include "compile-internal.h"

void compile_addr_words(const struct prefix *p, uint32_t *addr, uint32_t *mask)
{
	uint8_t m[16] = {}, a[16];

	for (unsigned i = 0; i < p->len / 8; i++)
		m[i] = 0xff;
	if (p->len % 8)
		m[p->len / 8] = (uint8_t)(0xff << (8 - p->len % 8));
	/* Masked: a rule's address keeps the host bits it was given; it matches without. */
	for (unsigned i = 0; i < 16; i++)
		a[i] = p->addr[i] & m[i];
	memcpy(addr, a, 16);
	memcpy(mask, m, 16);
}

void compile_selectors(struct steer_rule *r, const struct compile_sel *s)
{
	if (s->dst->len) {
		r->match |= STEER_MATCH_DST;
		compile_addr_words(s->dst, r->dst, r->dst_mask);
	}
	if (s->tos) {
		/* What this kernel compares: IPv4 masks the TOS byte to IPTOS_RT_MASK, IPv6 the
		 * traffic class to its DSCP bits (both checked against `ip route get`). */
		r->match |= STEER_MATCH_TOS;
		r->tos = s->tos;
		r->tos_mask = s->family == AF_INET ? 0x1c : 0xfc;
	}
	if (s->mask) {
		r->match |= STEER_MATCH_MARK;
		r->mark = s->mark & s->mask;
		r->mark_mask = s->mask;
	}
	if (s->proto) {
		r->match |= STEER_MATCH_PROTO;
		r->ip_proto = s->proto;
	}
	if (s->sport_lo || s->sport_hi) {
		r->match |= STEER_MATCH_SPORT;
		r->sport_lo = s->sport_lo;
		r->sport_hi = s->sport_hi;
	}
	if (s->dport_lo || s->dport_hi) {
		r->match |= STEER_MATCH_DPORT;
		r->dport_lo = s->dport_lo;
		r->dport_hi = s->dport_hi;
	}
}
