/* main.c - portico-vault entry point (skeleton; the component's issue replaces it). */
#include <stdio.h>

int main(void)
{
    fprintf(stderr, "portico-vault: not implemented yet\n");
    return 2;
}
