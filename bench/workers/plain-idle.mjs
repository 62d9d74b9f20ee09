// A worker without the SDK: idles until stopped or killed.
setInterval(() => {}, 1 << 30)
