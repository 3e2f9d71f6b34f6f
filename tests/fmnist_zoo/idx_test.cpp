// The IDX reader against small files written here byte by byte (plain and
// gzipped), and every error case it must name.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <iterator>
#include <fstream>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/idx.h"

namespace {

namespace fs = std::filesystem;
using taskrel::InputError;
using Bytes = std::vector<std::uint8_t>;

class IdxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("taskrel_idx_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write_plain(const std::string& name, const Bytes& bytes) {
    const std::string path = (dir_ / name).string();
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    return path;
  }
  std::string write_gzip(const std::string& name, const Bytes& bytes) {
    const std::string path = (dir_ / name).string();
    gzFile file = gzopen(path.c_str(), "wb");
    gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(file);
    return path;
  }
  fs::path dir_;
};

// Header for unsigned bytes with the given dimensions, big-endian.
Bytes header(const std::vector<std::uint32_t>& dims, std::uint8_t dtype = 0x08) {
  Bytes bytes = {0, 0, dtype, static_cast<std::uint8_t>(dims.size())};
  for (std::uint32_t d : dims) {
    bytes.push_back(static_cast<std::uint8_t>(d >> 24));
    bytes.push_back(static_cast<std::uint8_t>(d >> 16));
    bytes.push_back(static_cast<std::uint8_t>(d >> 8));
    bytes.push_back(static_cast<std::uint8_t>(d));
  }
  return bytes;
}

Bytes images_file(std::uint32_t count, std::uint32_t rows, std::uint32_t cols) {
  Bytes bytes = header({count, rows, cols});
  for (std::uint32_t i = 0; i < count * rows * cols; ++i) bytes.push_back(static_cast<std::uint8_t>((i * 7) % 256));
  return bytes;
}

Bytes labels_file(std::uint32_t count) {
  Bytes bytes = header({count});
  for (std::uint32_t i = 0; i < count; ++i) bytes.push_back(static_cast<std::uint8_t>(i % 10));
  return bytes;
}

void expect_input_error(const std::function<void()>& call, const std::string& part1, const std::string& part2) {
  try {
    call();
    FAIL() << "expected an InputError mentioning " << part1 << " and " << part2;
  } catch (const InputError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find(part1), std::string::npos) << message;
    EXPECT_NE(message.find(part2), std::string::npos) << message;
  }
}

TEST_F(IdxTest, ReadsPlainImagesAndLabels) {
  const std::string images = write_plain("img", images_file(3, 4, 5));
  const std::string labels = write_plain("lab", labels_file(3));
  const auto set = taskrel::io::read_idx_image_set(images, labels);
  EXPECT_EQ(set.count, 3);
  EXPECT_EQ(set.rows, 4);
  EXPECT_EQ(set.cols, 5);
  ASSERT_EQ(set.pixels.size(), 60u);
  for (std::uint32_t i = 0; i < 60; ++i) EXPECT_EQ(set.pixels[i], (i * 7) % 256);
  EXPECT_EQ(set.labels, (Bytes{0, 1, 2}));
}

TEST_F(IdxTest, ReadsGzipLikePlain) {
  const Bytes content = images_file(2, 3, 3);
  const auto plain = taskrel::io::read_idx(write_plain("a", content));
  const auto zipped = taskrel::io::read_idx(write_gzip("a.gz", content));
  EXPECT_EQ(zipped.dims, (std::vector<std::int64_t>{2, 3, 3}));
  EXPECT_EQ(plain.dims, zipped.dims);
  EXPECT_EQ(plain.values, zipped.values);
}

// A named pipe can be opened and read once: the reader must not open it to
// probe and then again to read (the writer's data would be lost, or the
// second open would wait for a writer that has gone).
TEST_F(IdxTest, ReadsGzipFromANamedPipe) {
  const Bytes content = images_file(4, 3, 3);
  const std::string source = write_gzip("b.gz", content);
  const std::string fifo = (dir_ / "pipe").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::thread writer([&] {
    std::ifstream in(source, std::ios::binary);
    std::ofstream out(fifo, std::ios::binary);  // blocks until the reader opens the pipe
    out << in.rdbuf();
  });
  const auto piped = taskrel::io::read_idx(fifo);
  writer.join();
  EXPECT_EQ(piped.dims, (std::vector<std::int64_t>{4, 3, 3}));
  EXPECT_EQ(piped.values, taskrel::io::read_idx(source).values);
}

TEST_F(IdxTest, ReadsTheRealFashionMnistLabelsWhenInstalled) {
  const std::string path = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";
  if (!fs::exists(path)) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  const auto labels = taskrel::io::read_idx(path);
  ASSERT_EQ(labels.dims, (std::vector<std::int64_t>{10000}));
  std::vector<int> counts(10, 0);
  for (std::uint8_t label : labels.values) {
    ASSERT_LT(label, 10);
    ++counts[label];
  }
  for (int count : counts) EXPECT_EQ(count, 1000);  // the published test split is balanced
}

TEST_F(IdxTest, MissingFile) {
  expect_input_error([&] { taskrel::io::read_idx((dir_ / "nope").string()); }, "nope", "cannot open");
}

TEST_F(IdxTest, BadMagic) {
  Bytes bytes = labels_file(4);
  bytes[0] = 1;
  const std::string path = write_plain("magic", bytes);
  expect_input_error([&] { taskrel::io::read_idx(path); }, path, "magic");
}

TEST_F(IdxTest, UnsupportedDtype) {
  Bytes bytes = header({2}, 0x0D);  // float
  bytes.resize(bytes.size() + 8);
  const std::string path = write_plain("float", bytes);
  expect_input_error([&] { taskrel::io::read_idx(path); }, path, "dtype");
}

TEST_F(IdxTest, TruncatedData) {
  Bytes bytes = images_file(3, 4, 5);
  bytes.resize(bytes.size() - 1);
  const std::string path = write_gzip("short.gz", bytes);
  expect_input_error([&] { taskrel::io::read_idx(path); }, path, "truncated");
}

TEST_F(IdxTest, TruncatedHeader) {
  Bytes bytes = header({3, 4, 5});
  bytes.resize(9);
  const std::string path = write_plain("hdr", bytes);
  expect_input_error([&] { taskrel::io::read_idx(path); }, path, "truncated IDX header");
}

TEST_F(IdxTest, TrailingBytes) {
  Bytes bytes = labels_file(4);
  bytes.push_back(0);
  const std::string path = write_plain("long", bytes);
  expect_input_error([&] { taskrel::io::read_idx(path); }, path, "trailing");
}

TEST_F(IdxTest, CutOffGzipStream) {
  // A gzip file cut in the middle of its compressed stream (a broken download).
  const std::string full = write_gzip("full.gz", images_file(50, 28, 28));
  std::ifstream in(full, std::ios::binary);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string path = write_plain("cut.gz", Bytes(content.begin(), content.begin() + content.size() / 2));
  expect_input_error([&] { taskrel::io::read_idx(path); }, path, "gzip");
}

TEST_F(IdxTest, ImageAndLabelCountsMustAgree) {
  const std::string images = write_plain("img", images_file(3, 2, 2));
  const std::string labels = write_plain("lab", labels_file(4));
  expect_input_error([&] { taskrel::io::read_idx_image_set(images, labels); }, "3 images", "4 labels");
}

TEST_F(IdxTest, ImageFileMustBeThreeDimensional) {
  const std::string images = write_plain("img", labels_file(3));
  const std::string labels = write_plain("lab", labels_file(3));
  expect_input_error([&] { taskrel::io::read_idx_image_set(images, labels); }, images, "3 dimensions");
}

}  // namespace
