/* main.c - portico-dnscache entry point (skeleton; the component's issue replaces it). */
#include <stdio.h>

int main(void)
{
    fprintf(stderr, "portico-dnscache: not implemented yet\n");
    return 2;
}
