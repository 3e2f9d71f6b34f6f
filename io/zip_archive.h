// Minimal reader for the zip archives NumPy writes as .npz (np.savez stores
// members, np.savez_compressed deflates them; both may carry ZIP64 fields).
// Reads the central directory, then extracts one member by name, checking
// sizes against the archive's size and the CRC-32 after extraction. Every
// size in the archive is checked before anything is allocated from it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace taskrel::io {

// `bytes` / `archive_bytes` is the whole archive, read from the file `path` (named in messages;
// io/whole_file.h reads it, from a pipe too).

// Names of the members of the archive (InputError if it is not a readable
// zip archive).
std::vector<std::string> zip_member_names(const std::vector<char>& bytes, const std::string& path);

// The uncompressed bytes of member `name`; InputError naming the archive and
// listing its members when there is no such member.
std::vector<char> read_zip_member(const std::vector<char>& archive_bytes, const std::string& path,
                                  const std::string& name);

}  // namespace taskrel::io
