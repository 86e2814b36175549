#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"

void inf__process_memory(int64_t *active, int64_t *peak) {
    int64_t rss = 0, hwm = 0;
    FILE *f = fopen("/proc/self/status", "r");
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f)) {
            long long kb;
            if (sscanf(line, "VmRSS: %lld kB", &kb) == 1) rss = kb * 1024;
            else if (sscanf(line, "VmHWM: %lld kB", &kb) == 1) hwm = kb * 1024;
        }
        fclose(f);
    }
    if (active) *active = rss;
    if (peak) *peak = hwm > rss ? hwm : rss;
}
