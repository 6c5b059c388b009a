/*
 * Guest instructions executed per thread, for qemu-user (QEMU 7.2's TCG plugin API, version 1).
 * Debian's qemu-user runs plugins but ships none, and callgrind under qemu-user did not finish
 * loading our models in 67 minutes; this counts at translation-block granularity at near-native
 * qemu speed. At exit it prints one line per vCPU (a thread in user mode, numbered in the order
 * they were created; qemu reuses the number of a thread that has exited):
 *   insn vcpu=<index> count=<guest instructions>
 * to stderr, or appends them to the file named by the plugin argument `out=PATH`.
 * The declarations below are the few parts of qemu-plugin.h this needs (no header is packaged).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
typedef struct {
    const char *target_name;
    struct { int min; int cur; } version;
    bool system_emulation;
    union { struct { int smp_vcpus; int max_vcpus; } system; };
} qemu_info_t;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
struct qemu_plugin_tb;
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb,
                                          enum qemu_plugin_cb_flags flags, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

#define MAX_VCPUS 256
static uint64_t counts[MAX_VCPUS];
static char out_path[4096];

static void on_exec(unsigned int vcpu, void *n_insns)
{
    __atomic_fetch_add(&counts[vcpu < MAX_VCPUS ? vcpu : MAX_VCPUS - 1], (uint64_t)(uintptr_t)n_insns,
                       __ATOMIC_RELAXED);
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    qemu_plugin_register_vcpu_tb_exec_cb(tb, on_exec, QEMU_PLUGIN_CB_NO_REGS, (void *)(uintptr_t)n);
}

static void at_exit_report(qemu_plugin_id_t id, void *unused)
{
    (void)id; (void)unused;
    FILE *f = out_path[0] ? fopen(out_path, "a") : stderr;
    if (!f) f = stderr;
    for (int i = 0; i < MAX_VCPUS; i++)
        if (counts[i]) fprintf(f, "insn vcpu=%d count=%llu\n", i, (unsigned long long)counts[i]);
    if (f != stderr) fclose(f);
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                                               int argc, char **argv)
{
    (void)info;
    for (int i = 0; i < argc; i++)
        if (strncmp(argv[i], "out=", 4) == 0) snprintf(out_path, sizeof out_path, "%s", argv[i] + 4);
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, at_exit_report, NULL);
    return 0;
}
