{
  # libtorch comes from Debian (libtorch-dev) by default. To build against a libtorch download
  # instead, set LIBTORCH_DIR to the unpacked folder (the one holding include/ and lib/).
  "variables": {
    "libtorch_dir%": "<!(node -p \"process.env.LIBTORCH_DIR || ''\")"
  },
  "targets": [
    {
      "target_name": "loupe_native",
      "sources": ["src/addon.cc", "src/engine_model.cc", "src/spec_net.cc", "src/spec_parse.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "_GLIBCXX_USE_CXX11_ABI=1"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-frtti", "-O2", "-Wno-unused-parameter", "-Wno-deprecated-declarations"],
      "conditions": [
        ["libtorch_dir==''", {
          "include_dirs": ["/usr/include", "/usr/include/torch/csrc/api/include"],
          "libraries": ["-ltorch", "-ltorch_cpu", "-lc10"]
        }, {
          "include_dirs": ["<(libtorch_dir)/include", "<(libtorch_dir)/include/torch/csrc/api/include"],
          "libraries": ["-L<(libtorch_dir)/lib", "-Wl,-rpath,<(libtorch_dir)/lib", "-ltorch", "-ltorch_cpu", "-lc10"]
        }]
      ]
    },
    {
      # The serving decoder (src/serve/inference/fast-decoder.ts): libjpeg-turbo and libpng only,
      # so loading it does not map libtorch into the server.
      "target_name": "loupe_image",
      "sources": ["src/image_addon.cc", "src/image_jpeg.cc", "src/image_png.cc", "src/image_pack.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-O2", "-Wno-unused-parameter", "-Wno-clobbered"],
      "libraries": ["-ljpeg", "-lpng16"]
    }
  ]
}
