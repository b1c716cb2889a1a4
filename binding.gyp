{
  "targets": [
    {
      "target_name": "bkc_tun",
      "sources": ["native/tun.c"],
      "cflags": ["-Wall", "-O2"]
    }
  ]
}
