// Renders openapi.yaml, served beside this file, with the Swagger UI bundle.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/docs/assets/openapi.yaml",
    dom_id: "#api",
    deepLinking: true,
    docExpansion: "list",
    defaultModelsExpandDepth: 0,
  });
});
