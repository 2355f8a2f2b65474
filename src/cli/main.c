/* main.c - the slinfer executable; everything else is in libslinfer. */
#include "config.h"

#include "cli/cli.h"

int main(int argc, char **argv)
{
    return sl_cli_main(argc, argv);
}
