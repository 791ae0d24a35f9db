# Writes a C++ header holding a file's bytes: cmake -DINPUT=… -DOUTPUT=… -DSYMBOL=… -P embed_file.cmake
file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" hex_length)
math(EXPR size "${hex_length} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){16})" "\\1\n  " bytes "${bytes}")
file(WRITE "${OUTPUT}.tmp"
  "// Generated from ${INPUT} by policies/embed_file.cmake. Do not edit.\n"
  "#pragma once\n#include <cstddef>\n\n"
  "inline constexpr unsigned char ${SYMBOL}[] = {\n  ${bytes}\n};\n"
  "inline constexpr std::size_t ${SYMBOL}Size = ${size};\n")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
