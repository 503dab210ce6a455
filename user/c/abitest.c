/*
 * abitest: a C program built the way xv6 builds its user programs (gcc,
 * no libc, syscall stubs generated from the ABI table), to show that this
 * kernel runs xv6 C programs unchanged. Each check prints
 * "abitest: <check> ok"; the last line is "abitest: ALL OK", or
 * "abitest: FAIL <what>" at the first check that fails.
 */

typedef unsigned int uint;
typedef unsigned long uint64;

/*
 * These mirror xv6's kernel/stat.h and kernel/fcntl.h. They are written out
 * here on purpose instead of generated from the Rust abi crate: the point
 * of this program is to check that crate against xv6's C headers.
 */
#define T_DIR 1
#define T_FILE 2
#define O_RDONLY 0x000
#define O_WRONLY 0x001
#define O_RDWR 0x002
#define O_CREATE 0x200
#define O_TRUNC 0x400

struct stat {
	int dev;
	uint ino;
	short type;
	short nlink;
	uint64 size;
};

_Static_assert(sizeof(struct stat) == 24, "struct stat is 24 bytes");
_Static_assert(__builtin_offsetof(struct stat, type) == 8, "stat.type at 8");
_Static_assert(__builtin_offsetof(struct stat, nlink) == 10, "stat.nlink at 10");
_Static_assert(__builtin_offsetof(struct stat, size) == 16, "stat.size at 16");

/* The system calls as xv6's user.h declares them; the stubs are usys.S. */
int fork(void);
int exit(int) __attribute__((noreturn));
int wait(int *);
int pipe(int *);
int write(int, const void *, int);
int read(int, void *, int);
int close(int);
int exec(const char *, char **);
int open(const char *, int);
int fstat(int, struct stat *);
int unlink(const char *);
int getpid(void);
char *sbrk(int);

#define TMPFILE "abitest.tmp"
/* Spans two disk blocks, so the write and read cross a block boundary. */
#define FILESIZE 1500
#define CHILD_STATUS 7
#define EXEC_OK 42

static char buf[2 * FILESIZE];

/* One output line, written with a single write() so lines never mix. */
struct line {
	char text[128];
	int len;
};

static void add(struct line *l, const char *s)
{
	while (*s && l->len < (int)sizeof(l->text) - 1)
		l->text[l->len++] = *s++;
}

static void add_num(struct line *l, long n)
{
	char digits[24];
	int i = 0;
	unsigned long u = n < 0 ? -(unsigned long)n : (unsigned long)n;

	if (n < 0)
		add(l, "-");
	do {
		digits[i++] = '0' + u % 10;
		u /= 10;
	} while (u != 0);
	while (i > 0 && l->len < (int)sizeof(l->text) - 1)
		l->text[l->len++] = digits[--i];
}

static int emit(struct line *l)
{
	l->text[l->len++] = '\n';
	return write(1, l->text, l->len);
}

static void ok(const char *check)
{
	struct line l;

	l.len = 0;
	add(&l, "abitest: ");
	add(&l, check);
	add(&l, " ok");
	emit(&l);
}

/* Reports the failed check with the value seen, and stops. */
static void fail(const char *what, long got)
{
	struct line l;

	l.len = 0;
	add(&l, "abitest: FAIL ");
	add(&l, what);
	add(&l, " (got ");
	add_num(&l, got);
	add(&l, ")");
	emit(&l);
	exit(1);
}

static void expect(long got, long want, const char *what)
{
	if (got != want)
		fail(what, got);
}

static int streq(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return *a == *b;
}

/* Reads until end of file; returns the byte count or -1. */
static int read_all(int fd, char *dst, int cap)
{
	int total = 0;
	int n;

	while ((n = read(fd, dst + total, cap - total)) > 0)
		total += n;
	return n < 0 ? -1 : total;
}

/* Writes a whole line and checks that write reports every byte written. */
static void check_write_line(const char *text)
{
	int n = 0;

	while (text[n])
		n++;
	expect(write(1, text, n), n, "write returns the count");
}

static void check_files(void)
{
	struct stat st;
	int fd, i;

	unlink(TMPFILE); /* left over from an interrupted run */
	fd = open(TMPFILE, O_CREATE | O_RDWR);
	expect(fd >= 0, 1, "open O_CREATE");
	for (i = 0; i < FILESIZE; i++)
		buf[i] = 'a' + i % 26;
	expect(write(fd, buf, FILESIZE), FILESIZE, "write to a new file");
	expect(fstat(fd, &st), 0, "fstat of a file");
	expect(st.type, T_FILE, "stat.type of a file");
	expect(st.nlink, 1, "stat.nlink of a new file");
	expect(st.size, FILESIZE, "stat.size after write");
	expect(st.dev, 1, "stat.dev is the root device");
	expect(st.ino > 1, 1, "stat.ino of a new file");
	expect(close(fd), 0, "close");
	ok("fstat file");

	fd = open(TMPFILE, O_RDONLY);
	expect(fd >= 0, 1, "open O_RDONLY");
	expect(read_all(fd, buf + FILESIZE, FILESIZE), FILESIZE, "read back the file");
	for (i = 0; i < FILESIZE; i++)
		if (buf[FILESIZE + i] != 'a' + i % 26)
			fail("read back the bytes written, differing at", i);
	expect(read(fd, buf, 1), 0, "read at end of file");
	expect(write(fd, buf, 1), -1, "write to a read-only descriptor");
	close(fd);

	fd = open(TMPFILE, O_WRONLY | O_TRUNC);
	expect(fd >= 0, 1, "open O_TRUNC");
	expect(fstat(fd, &st), 0, "fstat after O_TRUNC");
	expect(st.size, 0, "stat.size after O_TRUNC");
	close(fd);
	expect(unlink(TMPFILE), 0, "unlink");
	expect(open(TMPFILE, O_RDONLY), -1, "open of an unlinked file");
	ok("open/read/write/unlink");

	fd = open(".", O_RDONLY);
	expect(fd >= 0, 1, "open .");
	expect(fstat(fd, &st), 0, "fstat of .");
	expect(st.type, T_DIR, "stat.type of .");
	expect(st.nlink >= 1, 1, "stat.nlink of .");
	expect(st.size > 0 && st.size % 16 == 0, 1, "stat.size of . in whole entries");
	close(fd);
	ok("fstat dir");
}

static void check_pipe_fork_wait(void)
{
	static const char msg[] = "through the pipe";
	int fds[2];
	int pid, status, n;

	expect(pipe(fds), 0, "pipe");
	pid = fork();
	expect(pid >= 0, 1, "fork");
	if (pid == 0) {
		close(fds[0]);
		write(fds[1], msg, sizeof(msg));
		exit(CHILD_STATUS);
	}
	close(fds[1]);
	n = read_all(fds[0], buf, sizeof(buf));
	close(fds[0]);
	expect(n, sizeof(msg), "bytes read from the pipe");
	expect(streq(buf, msg), 1, "pipe contents");
	ok("pipe");

	status = -1;
	expect(wait(&status), pid, "wait returns the child's pid");
	expect(status, CHILD_STATUS, "wait's exit status");

	pid = fork();
	if (pid == 0)
		exit(getpid() & 0x7f);
	expect(wait(0), pid, "wait with a null status pointer");
	pid = fork();
	if (pid == 0)
		exit(getpid() & 0x7f);
	wait(&status);
	expect(status, pid & 0x7f, "getpid in the child is fork's return value");
	expect(wait(&status), -1, "wait without children");
	ok("fork/wait status");
}

/* Run by the exec check in a child: argv must arrive intact. */
static int exec_child(int argc, char **argv)
{
	if (argc != 3 || !streq(argv[0], "abitest") || !streq(argv[2], "two words") ||
	    argv[3] != 0)
		return 1;
	/* xv6 leaves argv at the 16-byte aligned stack pointer. */
	if ((uint64)argv % 16 != 0)
		return 2;
	return EXEC_OK;
}

static void check_exec(void)
{
	char *argv[] = { "abitest", "exec-child", "two words", 0 };
	int pid, status;

	pid = fork();
	expect(pid >= 0, 1, "fork");
	if (pid == 0) {
		exec("/abitest", argv);
		exit(100);
	}
	status = -1;
	wait(&status);
	expect(status, EXEC_OK, "exit status of the exec'd child (1: bad argv, 2: misaligned, 100: exec failed)");
	expect(exec("/no-such-program", argv), -1, "exec of a missing file");
	ok("exec argv");
}

static void check_sbrk(void)
{
	const int grow = 3 * 4096 + 100;
	char *start, *p;
	int i, pid, status;

	start = sbrk(0);
	p = sbrk(grow);
	expect((long)p, (long)start, "sbrk returns the old break");
	for (i = 0; i < grow; i++)
		p[i] = (char)(i * 7);
	for (i = 0; i < grow; i++)
		if (p[i] != (char)(i * 7))
			fail("sbrk memory keeps its contents, differing at", i);
	expect((long)sbrk(0), (long)(start + grow), "sbrk(0) after growing");

	pid = fork();
	if (pid == 0) {
		/* The child's copy is its own: the parent must not see this. */
		for (i = 0; i < grow; i++)
			p[i] = 0;
		exit(p[grow - 1]);
	}
	wait(&status);
	expect(status, 0, "child exit after changing its heap");
	for (i = 0; i < grow; i++)
		if (p[i] != (char)(i * 7))
			fail("heap unchanged by the child, differing at", i);

	expect((long)sbrk(-grow), (long)(start + grow), "sbrk shrinking returns the old break");
	expect((long)sbrk(0), (long)start, "sbrk(0) after shrinking");
	ok("sbrk");
}

int main(int argc, char **argv)
{
	if (argc > 1 && streq(argv[1], "exec-child"))
		return exec_child(argc, argv);
	check_write_line("abitest: write ok\n");
	check_files();
	check_pipe_fork_wait();
	check_exec();
	check_sbrk();
	check_write_line("abitest: ALL OK\n");
	return 0;
}
