// Import users from a CSV file through the server's batch import (POST /v1/import).
export function ImportView() {
  return (
    <section class="view">
      <h1>Import</h1>
    </section>
  );
}
