/* main.c - portico-controller entry point (skeleton; the component's issue replaces it). */
#include <stdio.h>

int main(void)
{
    fprintf(stderr, "portico-controller: not implemented yet\n");
    return 2;
}
