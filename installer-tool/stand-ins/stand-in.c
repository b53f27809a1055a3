/* A stand-in for the VPN's app or extension executable, packaged by
 * build-pkg on machines that cannot compile the real Rust binaries for macOS
 * yet. It is a real Mach-O program so that signing, packaging and
 * verification run on honest input; it says plainly what it is. */
#include <stdio.h>

#ifndef STAND_IN_NAME
#error "compile with -DSTAND_IN_NAME=\"...\""
#endif
#ifndef STAND_IN_VERSION
#error "compile with -DSTAND_IN_VERSION=\"...\""
#endif

int main(void) {
    printf("%s %s: stand-in executable built by installer-tool, not the real VPN\n",
           STAND_IN_NAME, STAND_IN_VERSION);
    return 0;
}
