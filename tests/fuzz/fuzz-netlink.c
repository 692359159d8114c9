/* Fuzz target for netlink intake (rtnetlink and nftables): bytes -> the same per-message
 * handlers steerd uses ->
 * model -> compiler. Built with clang -fsanitize=fuzzer it is a libFuzzer target
 * (tests/fuzz/run.sh); built without, with replay.c, it replays a corpus, so every seed and every
 * crash ever found stays a regression test. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/netlink.h>

#include "compile.h"
#include "log.h"
#include "model.h"
#include "nf.h"
#include "nl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Netlink headers are read in place: give them the alignment the kernel would. */
	uint32_t *buf = malloc(size + 4);
	struct nlmsghdr *h;
	struct model m;
	struct image img;
	int rem = (int)size;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	log_set_level(-1);
	model_init(&m);
	/* rtnetlink and nftables message types do not overlap: one corpus feeds both. An
	 * nftables message counts as an event unless it is part of a multipart reply. */
	for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, rem); h = NLMSG_NEXT(h, rem)) {
		if (h->nlmsg_type >> 8 == 10)	/* NFNL_SUBSYS_NFTABLES */
			nf_message(&m, h, !(h->nlmsg_flags & NLM_F_MULTI));
		else
			intake_message(&m, h);
	}
	if (!compile_image(&m, NULL, &img))
		image_free(&img);
	model_free(&m);
	free(buf);
	return 0;
}
