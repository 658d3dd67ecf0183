/* make bench-web: the cheapest CGI program there is, for the floor of the
 * fork+exec path: the headers of xtoken-credentials and a body of the
 * length the query string asks for ("?n=128", the default), no config, no
 * crypto, no stdio. What xtoken-credentials costs above this is its own. */
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

int main(void)
{
    static const char head[] = "Status: 200 OK\n"
                               "Content-Type: application/json\n"
                               "Cache-Control: no-store\n"
                               "\n";
    char body[1024];
    const char *query = getenv("QUERY_STRING");
    size_t n = query && strncmp(query, "n=", 2) == 0 ? strtoul(query + 2, NULL, 10) : 128;

    if (n < 2 || n > sizeof body)
        n = 128;
    memset(body, 'x', n - 1);
    body[n - 1] = '\n';
    return write(STDOUT_FILENO, head, sizeof head - 1) == (ssize_t)(sizeof head - 1) &&
                   write(STDOUT_FILENO, body, n) == (ssize_t)n
               ? 0
               : 1;
}
