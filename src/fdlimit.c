/* SPDX-License-Identifier: MIT */
/* The file descriptor limit and the connection budget it allows (see fdlimit.h). */
#include "fdlimit.h"

#include <dirent.h>
#include <stddef.h>
#include <sys/resource.h>

#include "err.h"

int
fdlimit_raise(unsigned long long *before, unsigned long long *after)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return ERR_IO;
	*before = *after = (unsigned long long)rl.rlim_cur;
	if (rl.rlim_cur == rl.rlim_max)
		return 0;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		return ERR_IO;
	*after = (unsigned long long)rl.rlim_cur;
	return 0;
}

unsigned long long
fdlimit_current(void)
{
	struct rlimit rl;

	return getrlimit(RLIMIT_NOFILE, &rl) == 0 ? (unsigned long long)rl.rlim_cur : 1024;
}

unsigned
fdlimit_in_use(unsigned fallback)
{
	DIR *d = opendir("/proc/self/fd");
	unsigned n = 0;
	struct dirent *e;

	if (!d)
		return fallback;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n > 0 ? n - 1 : 0; /* not the directory's own descriptor */
}

unsigned
fdlimit_connections(unsigned long long limit, unsigned in_use, unsigned reserve, unsigned max)
{
	unsigned long long need = (unsigned long long)in_use + reserve;

	if (limit <= need)
		return 0;
	return limit - need < max ? (unsigned)(limit - need) : max;
}
