#include <stddef.h>
#include <stdint.h>

/// Runs libFuzzer's driver with `callback` as LLVMFuzzerTestOneInput. SwiftPM renames an
/// executable's entry point to `<module>_main`, so libFuzzer's own main is never linked;
/// each target's entry point calls this instead.
int nextgpt_fuzz_run(int argc, char **argv, int (*callback)(const uint8_t *data, size_t size));
