// Guest invitations.
export function InvitationsView() {
  return (
    <section class="view">
      <h1>Invitations</h1>
    </section>
  );
}
