// HDF5 / Keras H5 (prescan/keras_h5.cpp): the superblock search and the model_config JSON found
// in raw bytes, summarised into layer classes, Lambda layers and references.
#include "fuzz/fuzz_support.h"
#include "prescan/internal.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modelvet::prescan;
  std::string_view bytes = modelvet::fuzz::as_bytes(data, size);
  (void)find_hdf5_signature(bytes);
  KerasConfig k = scan_keras_config(bytes);
  for (const auto& c : k.layer_classes) (void)keras_layer_flags(c);
  return 0;
}
