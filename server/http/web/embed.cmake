# Writes a C++ file defining `const char NAME[]` (the bytes of IN, plus a
# NUL) and `const size_t NAME##Size` in namespace image2song.
#   cmake -DIN=page.html -DOUT=page.cc -DNAME=kWebIndexHtml -P embed.cmake
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" hex_len)
math(EXPR size "${hex_len} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" bytes "${bytes}")
file(WRITE "${OUT}.tmp"
  "// Generated from ${IN} by server/http/web/embed.cmake. Do not edit.\n"
  "#include <cstddef>\n"
  "namespace image2song {\n"
  "extern const char ${NAME}[] = {\n${bytes}0x00};\n"
  "extern const size_t ${NAME}Size = ${size};\n"
  "}  // namespace image2song\n")
file(RENAME "${OUT}.tmp" "${OUT}")
