"""Search text: the folded text the database search matches while the index is rebuilt

Revision ID: 3c1f7a9d2e64
Revises: 02522cb75f74
Create Date: 2026-12-06 02:10:00.000000

"""
from alembic import op
import sqlalchemy as sa

from search.textfold import folded_fields


# revision identifiers, used by Alembic.
revision = '3c1f7a9d2e64'
down_revision = '02522cb75f74'
branch_labels = None
depends_on = None

# The fields each table's search text is made of, as they were when this revision was written
# (search.catalogue.SEARCH_TEXT_FIELDS); the organisation is never one of them.
FIELDS = {'initiative': ('title', 'summary', 'keywords'),
          'demand': ('title', 'description'),
          'expert_profile': ('name', 'bio', 'keywords')}
BATCH = 1000


def upgrade():
    for table in FIELDS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('search_text', sa.Text(), nullable=True))
    bind = op.get_bind()
    for table, fields in FIELDS.items():
        rows = sa.table(table, sa.column('id', sa.Integer), sa.column('search_text', sa.Text),
                        *(sa.column(name, sa.JSON if name == 'keywords' else sa.Text) for name in fields))
        # Folded in Python, with the same fold() the application uses, a batch at a time so that a
        # large table is never held in memory at once.
        update = (sa.update(rows).where(rows.c.id == sa.bindparam('row_id'))
                  .values(search_text=sa.bindparam('text')))
        last = 0
        while True:
            batch = bind.execute(sa.select(rows.c.id, *(rows.c[name] for name in fields))
                                 .where(rows.c.id > last).order_by(rows.c.id).limit(BATCH)).all()
            if not batch:
                break
            bind.execute(update, [{'row_id': row.id, 'text': folded_fields(*row[1:])} for row in batch])
            last = batch[-1].id


def downgrade():
    for table in reversed(FIELDS):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('search_text')
