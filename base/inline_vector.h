// A vector of trivially copyable values that keeps its first N elements inside the object and
// goes to the heap only beyond them. Hot paths that build many short, short-lived lists (a virtio
// chain has one to three buffers almost always) then allocate nothing per list; long lists still
// work, they just cost what a std::vector costs.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <type_traits>

namespace uvm {

template <class T, size_t N>
class InlineVector {
  // Elements are moved with memcpy and never destroyed one by one.
  static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>);
  static_assert(N > 0);

 public:
  using value_type = T;
  using iterator = T*;
  using const_iterator = const T*;
  using reverse_iterator = std::reverse_iterator<T*>;
  using const_reverse_iterator = std::reverse_iterator<const T*>;

  InlineVector() = default;
  InlineVector(std::initializer_list<T> values) { Assign(values.begin(), values.size()); }
  InlineVector(const InlineVector& other) { Assign(other.data(), other.size_); }
  InlineVector& operator=(const InlineVector& other) {
    if (this != &other) Assign(other.data(), other.size_);
    return *this;
  }
  // A heap block changes owner; inline elements are copied (at most N of them).
  InlineVector(InlineVector&& other) noexcept { Take(other); }
  InlineVector& operator=(InlineVector&& other) noexcept {
    if (this != &other) Take(other);
    return *this;
  }

  T* data() { return heap_ ? heap_.get() : inline_; }
  const T* data() const { return heap_ ? heap_.get() : inline_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  size_t capacity() const { return heap_ ? capacity_ : N; }

  T& operator[](size_t i) { return data()[i]; }
  const T& operator[](size_t i) const { return data()[i]; }
  T& front() { return data()[0]; }
  const T& front() const { return data()[0]; }
  T& back() { return data()[size_ - 1]; }
  const T& back() const { return data()[size_ - 1]; }

  iterator begin() { return data(); }
  iterator end() { return data() + size_; }
  const_iterator begin() const { return data(); }
  const_iterator end() const { return data() + size_; }
  reverse_iterator rbegin() { return reverse_iterator(end()); }
  reverse_iterator rend() { return reverse_iterator(begin()); }
  const_reverse_iterator rbegin() const { return const_reverse_iterator(end()); }
  const_reverse_iterator rend() const { return const_reverse_iterator(begin()); }

  void push_back(const T& value) {
    if (size_ == capacity()) {
      // `value` may live in this vector: copy it before the storage moves.
      const T copy = value;
      Grow(size_ + 1);
      data()[size_++] = copy;
      return;
    }
    data()[size_++] = value;
  }
  // Removes one element, keeping the order of the rest; returns the position after it.
  iterator erase(iterator pos) {
    T* end_of = end();
    std::memmove(static_cast<void*>(pos), pos + 1,
                 sizeof(T) * static_cast<size_t>(end_of - pos - 1));
    --size_;
    return pos;
  }
  // Keeps a heap block, if there is one, for the next fill.
  void clear() { size_ = 0; }
  void reserve(size_t n) {
    if (n > capacity()) Grow(n);
  }

 private:
  void Grow(size_t at_least) {
    const size_t cap = std::max(at_least, capacity() * 2);
    std::unique_ptr<T[]> block(new T[cap]);
    if (size_ > 0) std::memcpy(static_cast<void*>(block.get()), data(), sizeof(T) * size_);
    heap_ = std::move(block);
    capacity_ = cap;
  }
  void Assign(const T* from, size_t n) {
    size_ = 0;
    reserve(n);
    if (n > 0) std::memcpy(static_cast<void*>(data()), from, sizeof(T) * n);
    size_ = n;
  }
  void Take(InlineVector& other) {
    if (other.heap_) {
      heap_ = std::move(other.heap_);
      capacity_ = other.capacity_;
      size_ = other.size_;
    } else {
      heap_.reset();
      size_ = other.size_;
      if (size_ > 0) std::memcpy(static_cast<void*>(inline_), other.inline_, sizeof(T) * size_);
    }
    other.size_ = 0;
  }

  T inline_[N];
  std::unique_ptr<T[]> heap_;  // set once more than N elements were held
  size_t capacity_ = 0;        // of heap_
  size_t size_ = 0;
};

}  // namespace uvm
