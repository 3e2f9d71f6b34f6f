// Reading an input file whole, whatever kind of file it is: a regular file,
// a named pipe, a process substitution (`<(cat x.npy)`, /dev/fd/N) or
// /dev/stdin. A non-regular file can be read only once and has no size to
// ask for, so it is read to its end in chunks; parsers then work on the
// bytes in memory. HDF5 needs random access to a real file, so its stores
// are checked with require_regular_file instead.
#pragma once

#include <string>
#include <vector>

namespace taskrel::io {

// All bytes of `path`. InputError "PATH: cannot open WHAT (reason)" or
// "PATH: read error ..." naming the file.
std::vector<char> read_whole_file(const std::string& path, const std::string& what = "file");

// True when `path` exists and is not a regular file or a directory (a pipe,
// a socket, a character device): something that can be read only once.
bool is_stream_file(const std::string& path);

// InputError "PATH is not a regular file; KIND must be files" when `path`
// exists and is a pipe, socket or device. A missing path passes (callers
// report it their own way).
void require_regular_file(const std::string& path, const std::string& kind);

}  // namespace taskrel::io
