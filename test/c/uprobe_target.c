// The process the uprobe tests probe: calls target(i) for i in 0..N-1 (N from argv[1]), prints the
// sum of the results. With a second argument it first waits for a line on stdin, so a test can
// attach to this very process (by pid) before the calls.
#include <stdio.h>
#include <stdlib.h>

__attribute__((noinline)) int target(int x)
{
	/* Keeps the call and its return value from being folded into the loop. */
	__asm__ volatile("" : "+r"(x));
	return x * 3 + 1;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1;
	long sum = 0;

	if (argc > 2) {
		char line[16];

		if (!fgets(line, sizeof(line), stdin))
			return 1;
	}
	for (int i = 0; i < n; i++)
		sum += target(i);
	printf("%ld\n", sum);
	return 0;
}
