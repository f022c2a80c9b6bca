// The API reference page: Swagger UI (frontend/vendor/, pinned by scripts/frontend.sh) on the
// server's own OpenAPI document. Nothing is fetched from elsewhere: no validator badge, no CDN.
/* global SwaggerUIBundle */
window.ui = SwaggerUIBundle({
    url: "/api/v1/openapi.json",
    dom_id: "#api",
    deepLinking: true,
    validatorUrl: null,
    docExpansion: "none",
    defaultModelsExpandDepth: 0,
    tryItOutEnabled: false,
    persistAuthorization: false,
});
