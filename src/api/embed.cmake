# embed.cmake -- turns a file into a C source defining its bytes, for the binary to
# serve (the OpenAPI document, the coach's web page).  Run by the build:
#   cmake -DIN=file -DOUT=file.c -DNAME=symbol -P embed.cmake
# defines  const unsigned char NAME[]  (the bytes, then a NUL),  const size_t NAME_len
# and  const char NAME_sha256[]  (the bytes' SHA-256 in hex: the web files' ETag).
file(READ "${IN}" hex HEX)
file(SHA256 "${IN}" sum)
string(LENGTH "${hex}" digits)
math(EXPR size "${digits} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
# 16 bytes (80 characters) per line
string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){16})" "\\1\n    " bytes "${bytes}")
get_filename_component(base "${IN}" NAME)
file(WRITE "${OUT}"
     "/* ${base}, embedded by src/api/embed.cmake at build time: do not edit. */\n"
     "#include <stddef.h>\n\n"
     "const unsigned char ${NAME}[] = {\n    ${bytes}0x00};\n"
     "const size_t ${NAME}_len = ${size};\n"
     "const char ${NAME}_sha256[] = \"${sum}\";\n")
