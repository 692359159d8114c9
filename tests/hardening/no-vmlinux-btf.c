/* Verifier portability: the program's load must not depend on the kernel's own BTF
 * (/sys/kernel/btf/vmlinux), which many distribution and embedded kernels lack. libbpf
 * reads that BTF only for an object that needs it (CO-RE relocations, kernel symbols,
 * BTF-typed attach points); pointing it at a file that does not exist makes any such need
 * fail the load, so this passes only while the object has none. Then the same object is
 * loaded the normal way, as a control that the load itself works here. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <bpf/libbpf.h>

#include "steer.skel.h"

static int load(const char *btf_path)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = btf_path);
	struct steer_bpf *skel = steer_bpf__open_opts(&opts);
	int r;

	if (!skel)
		return -errno;
	r = steer_bpf__load(skel);
	steer_bpf__destroy(skel);
	return r;
}

int main(void)
{
	int n = 0, failed = 0, r;

	r = load("/nonexistent/vmlinux-btf");
	printf("%sok %d - loads with the kernel's BTF made unavailable (%s)\n", r ? "not " : "", ++n,
	       r ? strerror(-r) : "no CO-RE relocation, no kernel symbol");
	failed += !!r;
	r = load(NULL);
	printf("%sok %d - loads with the kernel's BTF where libbpf looks for it (%s)\n", r ? "not " : "",
	       ++n, r ? strerror(-r) : "control");
	failed += !!r;
	printf("1..%d\n", n);
	return failed ? 1 : 0;
}
