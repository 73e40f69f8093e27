// /docs: Swagger UI (from the swagger-ui-py package, served by this server: no CDN) rendering
// /openapi.json, with "Try it out" against this server. An API key entered under "Authorize"
// is kept in the browser's local storage for the next visit.
"use strict";
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger",
    deepLinking: true,
    persistAuthorization: true,
    tryItOutEnabled: false,
    displayRequestDuration: true,
    validatorUrl: null, // never ask a public validator about this server's document
    onComplete: function () {
      document.body.dataset.rendered = "true";
    },
  });
});
