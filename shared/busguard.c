/* Surviving a store file that shrinks under its mapping.
 *
 * A process of the store's user can truncate the store file while a
 * verifier has it mapped; the verifier's next access to a page past the new
 * end raises SIGBUS, which would kill it (a crash, if a fail-closed one).
 * Checking the size before every access would cost a system call per token,
 * more than the whole check. Instead, the accesses run inside a guard: one
 * SIGBUS handler per process, installed the first time a store is mapped,
 * turns a fault at an address inside this thread's armed range into a
 * siglongjmp back to the guarded code, which then fails closed (XT_STORE).
 * Any other SIGBUS goes to whatever handler was there before, or ends the
 * process as it would have without us. The handler is installed with
 * SA_NODEFER and an empty mask and the jump buffer saves no mask, so the
 * jump leaves the thread's signal mask as it was, with no system call per
 * use. The code must stay mapped for as long as the handler is installed:
 * the PAM module and the Lua binding are linked -z nodelete.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>

#include "internal.h"
#include "xtoken.h"

static struct sigaction previous_action;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static int installed;
/* Guards armed in any thread: the handler reads this thread's guard only
 * when some guard is armed (a thread-local variable of a dlopened module
 * may be allocated on its first access, which a handler should not do). */
static int armed_count;
static __thread struct xt_bus_guard *armed_guard;

static void pass_on(int sig, siginfo_t *info, void *context)
{
    if (previous_action.sa_flags & SA_SIGINFO) {
        previous_action.sa_sigaction(sig, info, context);
    } else if (previous_action.sa_handler != SIG_DFL && previous_action.sa_handler != SIG_IGN) {
        previous_action.sa_handler(sig);
    } else {
        /* what the process would have done without us: end, with a core */
        signal(SIGBUS, SIG_DFL);
        raise(SIGBUS);
    }
}

static void on_sigbus(int sig, siginfo_t *info, void *context)
{
    if (__atomic_load_n(&armed_count, __ATOMIC_ACQUIRE) > 0) {
        /* not const: siglongjmp() takes guard->env (cppcheck 2.17's
         * constVariablePointer misses that) */
        /* cppcheck-suppress constVariablePointer */
        struct xt_bus_guard *guard = armed_guard;
        const unsigned char *addr = info->si_addr;

        if (guard != NULL && addr >= guard->lo && addr < guard->hi) {
            armed_guard = NULL;
            __atomic_sub_fetch(&armed_count, 1, __ATOMIC_RELEASE);
            siglongjmp(guard->env, 1);
        }
    }
    pass_on(sig, info, context);
}

static void install(void)
{
    struct sigaction action = {.sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO | SA_NODEFER};

    sigemptyset(&action.sa_mask);
    installed = sigaction(SIGBUS, &action, &previous_action) == 0;
}

int xt_bus_guard_install(void)
{
    pthread_once(&install_once, install);
    return installed ? XT_OK : XT_INTERNAL;
}

void xt_bus_arm(struct xt_bus_guard *guard, const void *start, size_t len)
{
    guard->lo = start;
    guard->hi = guard->lo + len;
    armed_guard = guard;
    __atomic_add_fetch(&armed_count, 1, __ATOMIC_RELEASE);
}

void xt_bus_disarm(const struct xt_bus_guard *guard)
{
    if (armed_guard != guard)
        return;
    armed_guard = NULL;
    __atomic_sub_fetch(&armed_count, 1, __ATOMIC_RELEASE);
}
