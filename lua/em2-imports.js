// emcc --js-library for aonode's Lua process module: the em2 imports that Debian's emscripten 3.1.6 does not define
// itself. Used only by emcc's own JS glue (the local Node sanity check); AO hosts and aonode provide these imports.
mergeInto(LibraryManager.library, {
  // AO's em2 glue returns 0: time() is the epoch, so results never depend on the host clock.
  _emscripten_date_now: function() { return 0; },
});
