// GraphiQL on /graphql. Queries go by POST only; nothing typed here is put into the page's URL.
const fetcher = GraphiQL.createFetcher({ url: window.location.pathname });
const query = `# Paste a token printed by \`make run\` into the Headers tab:
#   {"Authorization": "Bearer <token>"}
query Me {
  me { id tier createdAt unionId phone name birthday
       address { province city district street }
       identities { channel appId openId linkedAt } }
}
`;
ReactDOM.createRoot(document.getElementById("graphiql")).render(
  React.createElement(GraphiQL, {
    fetcher,
    defaultQuery: query,
    defaultHeaders: '{"Authorization": "Bearer "}',
    isHeadersEditorEnabled: true,
    shouldPersistHeaders: false,
    defaultEditorToolsVisibility: "headers",
  })
);
