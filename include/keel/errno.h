/*
 * Error numbers. Functions that can fail return 0 or a negative value of these.
 * Values match Linux so host unit tests can include libc headers alongside.
 */
#ifndef KEEL_ERRNO_H
#define KEEL_ERRNO_H

#ifndef EPERM
#define EPERM 1
#define ENOENT 2
#define ESRCH 3
#define EINTR 4
#define EIO 5
#define E2BIG 7
#define ENOEXEC 8
#define EAGAIN 11
#define ENOMEM 12
#define EFAULT 14
#define EBUSY 16
#define EEXIST 17
#define ENODEV 19
#define EINVAL 22
#define ENOSPC 28
#define ERANGE 34
#define EDEADLK 35
#define ENOSYS 38
#define ENOTSUP 95
#define ETIMEDOUT 110
#endif

/* Returns a short name for a negative errno ("-ENOMEM"), for messages. */
const char *errno_name(int err);

#endif
