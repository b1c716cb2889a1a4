// The one thing JavaScript cannot do for a TUN device: the TUNSETIFF ioctl.
// open() gives a non-blocking fd for an IFF_TUN | IFF_NO_PI interface,
// optionally with IFF_VNET_HDR and TCP segmentation offload, so one read or
// write moves up to ~64 KiB of TCP data instead of one MTU-sized packet.
// Reading and writing happen in JS through libuv (vpn-client/tun-stream.ts):
// no thread ever blocks on the fd, so the process can always exit.
#define NAPI_VERSION 8
#include <node_api.h>
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/if.h>
#include <linux/if_tun.h>

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value error, message, code;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, NULL, message, &error);
  napi_create_int32(env, err, &code);
  napi_set_named_property(env, error, "errno", code);
  napi_throw(env, error);
  return NULL;
}

// open(name: string, offload: boolean) -> { fd, name }
static napi_value tun_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char name[IFNAMSIZ] = {0};
  size_t len = 0;
  bool offload = false;
  if (argc < 2 || napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len) != napi_ok ||
      napi_get_value_bool(env, argv[1], &offload) != napi_ok) {
    napi_throw_type_error(env, NULL, "open(name: string, offload: boolean)");
    return NULL;
  }
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, "open /dev/net/tun", errno);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  // IFF_TUN_EXCL: never attach to an existing (persistent) device of that name and configure someone else's interface.
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_TUN_EXCL | (offload ? IFF_VNET_HDR : 0);
  memcpy(ifr.ifr_name, name, len < IFNAMSIZ ? len : IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "ioctl TUNSETIFF", err);
  }
  if (offload) {
    // Checksums and TSO for IPv4; the kernel then hands us TCP super-packets.
    unsigned int flags = TUN_F_CSUM | TUN_F_TSO4;
    if (ioctl(fd, TUNSETOFFLOAD, flags) < 0) {
      int err = errno;
      close(fd);
      return throw_errno(env, "ioctl TUNSETOFFLOAD", err);
    }
  }
  napi_value result, jfd, jname;
  napi_create_object(env, &result);
  napi_create_int32(env, fd, &jfd);
  napi_create_string_utf8(env, ifr.ifr_name, NAPI_AUTO_LENGTH, &jname);
  napi_set_named_property(env, result, "fd", jfd);
  napi_set_named_property(env, result, "name", jname);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "open", NAPI_AUTO_LENGTH, tun_open, NULL, &fn);
  napi_set_named_property(env, exports, "open", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
