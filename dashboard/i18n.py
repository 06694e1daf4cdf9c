"""Interface strings and number formats in English and French.

The first users are French-speaking analysts; every label, KPI title and message of the page goes
through :func:`t` so that a missing translation fails loudly in the tests (``KeyError``), not
silently in the page. Segment names are not here: they travel with the model (``model.names(lang)``).
"""

from __future__ import annotations

import math

# A true minus (a hyphen is shorter than a plus and reads as a dash): the segment sentences write it too.
from workflow.naming import MINUS, true_minus

LANGUAGES: tuple[str, ...] = ("en", "fr")
DEFAULT_LANGUAGE = "en"

# French typography: narrow no-break space before % and as thousands separator (Imprimerie nationale).
_NNBSP = "\u202f"

TEXT: dict[str, dict[str, str]] = {
    "title": {"en": "Customer segments", "fr": "Segments clients"},
    # Model card
    "model": {"en": "Model", "fr": "Modèle"},
    "version": {"en": "Version", "fr": "Version"},
    "k": {"en": "Segments (k)", "fr": "Segments (k)"},
    "silhouette": {"en": "Silhouette", "fr": "Silhouette"},
    "stability": {"en": "Stability (ARI)", "fr": "Stabilité (ARI)"},
    "trained_at": {"en": "Trained", "fr": "Entraîné le"},
    "data_digest": {"en": "Data digest", "fr": "Empreinte des données"},
    "data_file": {"en": "Customers from", "fr": "Clients issus de"},
    "customers_total": {"en": "Customers", "fr": "Clients"},
    "recommendation": {"en": "Why this k", "fr": "Pourquoi ce k"},
    "recommendation_metrics": {
        "en": "k={k}: silhouette {silhouette}, stability ARI {stability}.",
        "fr": "k={k}\u00a0: silhouette {silhouette}, stabilité ARI {stability}.",
    },
    "open_run": {"en": "Open the run in MLflow", "fr": "Ouvrir le run dans MLflow"},
    # Version picker
    "version_picker": {"en": "Model version", "fr": "Version du modèle"},
    # KPIs
    "kpi_customers": {"en": "Customers", "fr": "Clients"},
    "kpi_shipments": {"en": "Shipments", "fr": "Envois"},
    "kpi_orders": {"en": "Orders", "fr": "Commandes"},
    "kpi_of_revenue": {"en": "of revenue", "fr": "du CA"},
    "kpi_in_selection": {"en": "in the selection", "fr": "dans la sélection"},
    "kpi_per_customer": {"en": "{money} per customer", "fr": "{money} par client"},
    "export_segment": {"en": "CSV", "fr": "CSV"},
    "export_segment_help": {
        "en": "Download this segment's customers as CSV",
        "fr": "Télécharger les clients de ce segment en CSV",
    },
    # Tabs
    "tab_explore": {"en": "Explore", "fr": "Explorer"},
    "tab_compare": {"en": "Compare versions", "fr": "Comparer des versions"},
    "tab_drift": {"en": "Drift", "fr": "Dérive"},
    # Linked views
    "projection_title": {
        "en": "Customers on the model's two main axes",
        "fr": "Clients sur les deux axes principaux du modèle",
    },
    "distributions_title": {"en": "Feature distributions by segment", "fr": "Distribution des variables par segment"},
    "distributions_pick": {"en": "Features shown", "fr": "Variables affichées"},
    "customers_axis": {"en": "Customers", "fr": "Clients"},
    "heatmap_title": {"en": "Segment profiles (z-scores)", "fr": "Profils des segments (scores z)"},
    "heatmap_title_selection": {
        "en": "Selected customers' profiles (z-scores)",
        "fr": "Profils des clients sélectionnés (scores z)",
    },
    "heatmap_help": {
        "en": "Standard deviations above (red) or below (blue) the average customer. "
        "Click a row to filter by its segment.",
        "fr": "Écarts-types au-dessus (rouge) ou en dessous (bleu) du client "
        "moyen. Cliquez une ligne pour filtrer sur son segment.",
    },
    "segment": {"en": "Segment", "fr": "Segment"},
    "feature": {"en": "Feature", "fr": "Variable"},
    "z_score": {"en": "z-score", "fr": "score z"},
    "clear_selection": {"en": "Clear filters", "fr": "Effacer les filtres"},
    "chip_segment": {"en": "Segment: {name}", "fr": "Segment : {name}"},
    "chip_search": {"en": "Id contains “{text}”", "fr": "Identifiant contenant « {text} »"},
    "chip_projection": {"en": "Area of the map", "fr": "Zone de la carte"},
    "chip_remove": {"en": "Remove this filter", "fr": "Retirer ce filtre"},
    "selection_all": {"en": "No filter: all {n} customers", "fr": "Aucun filtre : les {n} clients"},
    "selection_some": {"en": "{n} customers selected ({share})", "fr": "{n} clients sélectionnés ({share})"},
    # Table
    "table_title": {"en": "Customers", "fr": "Clients"},
    "table_rows": {"en": "{n} customers", "fr": "{n} clients"},
    "table_rows_one": {"en": "1 customer", "fr": "1 client"},
    "table_empty": {
        "en": "No customer matches these filters: remove one above.",
        "fr": "Aucun client ne correspond à ces filtres : retirez-en un ci-dessus.",
    },
    "export_rows_name": {"en": "filtered customers", "fr": "clients filtrés"},
    "search": {"en": "Search customer id", "fr": "Rechercher un identifiant client"},
    "segment_filter": {"en": "Segments", "fr": "Segments"},
    "segment_filter_all": {"en": "All segments", "fr": "Tous les segments"},
    "export_rows": {"en": "Export these customers (CSV)", "fr": "Exporter ces clients (CSV)"},
    "customer_id": {"en": "Customer", "fr": "Client"},
    "segment_name": {"en": "Segment name", "fr": "Nom du segment"},
    # The table's pager (Tabulator's words)
    "pager_first": {"en": "First", "fr": "Début"},
    "pager_first_title": {"en": "First page", "fr": "Première page"},
    "pager_last": {"en": "Last", "fr": "Fin"},
    "pager_last_title": {"en": "Last page", "fr": "Dernière page"},
    "pager_prev": {"en": "Prev", "fr": "Préc."},
    "pager_prev_title": {"en": "Previous page", "fr": "Page précédente"},
    "pager_next": {"en": "Next", "fr": "Suiv."},
    "pager_next_title": {"en": "Next page", "fr": "Page suivante"},
    "pager_page_size": {"en": "Page size", "fr": "Lignes par page"},
    "pager_showing": {"en": "Showing", "fr": "Lignes"},
    "pager_of": {"en": "of", "fr": "sur"},
    "pager_rows": {"en": "rows", "fr": "lignes"},
    # Compare
    "compare_with": {"en": "Compare with", "fr": "Comparer avec"},
    "compare_pick": {"en": "Pick a second version to compare.", "fr": "Choisissez une seconde version à comparer."},
    "compare_only_one": {
        "en": "Only one version is registered: train another one to compare (`segments train --data …`).",
        "fr": "Une seule version est enregistrée : entraînez-en une autre pour comparer (`segments train --data …`).",
    },
    "migration_title": {
        "en": "Customers moving from v{a} (rows) to v{b} (columns)",
        "fr": "Clients passant de la v{a} (lignes) à la v{b} (colonnes)",
    },
    "segments_of": {"en": "Segments of v{version}", "fr": "Segments de la v{version}"},
    # Drift
    "drift_needs_data": {
        "en": "Drift compares new data with the model's training data. Start the dashboard with the new file: "
        "run `segments dashboard --data new_shipments.parquet`.",
        "fr": "La dérive compare de nouvelles données aux données "
        "d'entraînement du modèle. Lancez le tableau de bord "
        "avec le nouveau fichier : `segments dashboard --data nouveaux_envois.parquet`.",
    },
    "err_drift": {
        "en": "The training data ({path}) is not available, so there is no reference distribution: {reason}",
        "fr": "Les données d'entraînement ({path}) ne sont pas disponibles, il n'y "
        "a donc pas de distribution de référence : {reason}",
    },
    "drift_title": {"en": "Feature drift (PSI)", "fr": "Dérive des variables (PSI)"},
    "drift_shares_title": {"en": "Segment shares", "fr": "Part des segments"},
    "psi": {"en": "PSI", "fr": "PSI"},
    "flag": {"en": "Status", "fr": "Statut"},
    "flag_stable": {"en": "stable", "fr": "stable"},
    "flag_moderate": {"en": "moderate shift", "fr": "dérive modérée"},
    "flag_major": {"en": "major shift", "fr": "dérive forte"},
    "share_training": {"en": "Share in training data", "fr": "Part à l'entraînement"},
    "share_current": {"en": "Share in new data", "fr": "Part dans les nouvelles données"},
    "share_change": {"en": "Change (points)", "fr": "Variation (points)"},
    "drift_summary": {
        "en": "{new} customers in {path} against {old} in the training data.",
        "fr": "{new} clients dans {path} contre {old} dans les données d'entraînement.",
    },
    # Errors: title, then the fix as a command
    "error_title": {
        "en": "The dashboard cannot show this model",
        "fr": "Le tableau de bord ne peut pas afficher ce modèle",
    },
    "fix": {"en": "How to fix it", "fr": "Pour corriger"},
    "err_no_model": {
        "en": "No model named '{name}' is registered yet.",
        "fr": "Aucun modèle nommé « {name} » n'est encore enregistré.",
    },
    "fix_no_model": {
        "en": "Train one and promote it: run `segments train --data shipments.parquet`, then "
        "`segments promote 1`. Or run `segments demo` for a complete example.",
        "fr": "Entraînez-en un puis promouvez-le : lancez `segments train --data envois.parquet`, puis "
        "`segments promote 1`. Ou lancez `segments demo` pour un exemple complet.",
    },
    "err_alias_missing": {
        "en": "No version of '{name}' has the alias '{ref}' yet. Registered versions: {versions}.",
        "fr": "Aucune version de « {name} » ne porte encore l'alias « {ref} ». Versions enregistrées : {versions}.",
    },
    "fix_alias_missing": {
        "en": "Give the alias to a version: run `segments promote {latest} --alias {ref}`, or pick a version above.",
        "fr": "Attribuez l'alias à une version : lancez `segments promote {latest} "
        "--alias {ref}`, ou choisissez une version ci-dessus.",
    },
    "err_version_missing": {
        "en": "'{name}' has no version or alias '{ref}'. Registered versions: {versions}.",
        "fr": "« {name} » n'a pas de version ni d'alias « {ref} ». Versions enregistrées : {versions}.",
    },
    "fix_version_missing": {
        "en": "Pick a registered version above, or run `segments models` to list them.",
        "fr": "Choisissez une version enregistrée ci-dessus, ou lancez `segments models` pour les lister.",
    },
    "err_store": {
        "en": "The MLflow store cannot be reached: {detail}",
        "fr": "Le stockage MLflow est inaccessible : {detail}",
    },
    "fix_store": {
        "en": "Check MLFLOW_TRACKING_URI (now {uri}) and that the server is running; "
        "unset it to use the embedded store, then run `segments models` to check.",
        "fr": "Vérifiez MLFLOW_TRACKING_URI (actuellement {uri}) et que le serveur tourne ; "
        "supprimez-la pour utiliser le stockage intégré, puis lancez `segments models` pour vérifier.",
    },
    "err_training_data_missing": {
        "en": "The model's training data {path} cannot be read: {detail}",
        "fr": "Les données d'entraînement du modèle {path} sont illisibles : {detail}",
    },
    "fix_training_data_missing": {
        "en": "Pass the customers' shipments explicitly: run `segments dashboard --data shipments.parquet`.",
        "fr": "Indiquez explicitement les envois des clients : lancez `segments dashboard --data envois.parquet`.",
    },
    "err_data": {
        "en": "The data file cannot be used: {detail}",
        "fr": "Le fichier de données est inutilisable : {detail}",
    },
    "fix_data": {
        "en": "Fix the file or pass another one: run `segments dashboard --data shipments.parquet` "
        "(`--columns` maps other column names when training).",
        "fr": "Corrigez le fichier ou passez-en un autre : lancez `segments dashboard --data envois.parquet` "
        "(`--columns` adapte d'autres noms de colonnes à l'entraînement).",
    },
    "err_features": {
        "en": "Model v{version} needs feature(s) {missing}, which the data {path} cannot provide.",
        "fr": "Le modèle v{version} a besoin de la ou des variables {missing}, absentes des données {path}.",
    },
    "fix_features": {
        "en": "Train a model on this data: run `segments train --data {path}`, then `segments promote <version>`; "
        "or pass data with the columns the model was trained on.",
        "fr": "Entraînez un modèle sur ces données : lancez `segments train --data {path}`, puis "
        "`segments promote <version>` ; ou passez des données avec les colonnes de l'entraînement.",
    },
    "compare_itself": {"en": "it is the version shown", "fr": "c'est la version affichée"},
    "err_compare": {
        "en": "Version {ref} cannot be compared: {detail}",
        "fr": "La version {ref} ne peut pas être comparée : {detail}",
    },
    "map_axis_x": {
        "en": "Map axis 1 — to the right: {features}",
        "fr": "Axe 1 de la carte — vers la droite\u202f: {features}",
    },
    "map_axis_y": {
        "en": "Map axis 2 — upwards: {features}",
        "fr": "Axe 2 de la carte — vers le haut\u202f: {features}",
    },
    "map_axis_plain": {"en": "Map axis {n}", "fr": "Axe {n} de la carte"},
    "map_help": {
        "en": "Each dot is a customer; customers close together behave alike. Along an axis, ↑ marks the "
        "features that rise and ↓ those that fall; axis 1 carries {share1} of the differences between the "
        "segments' customers, axis 2 {share2}. Drag a box or a lasso to select, scroll to zoom, hover to see "
        "who is there.",
        "fr": "Chaque point est un client\u202f; des clients proches se ressemblent. Le long d'un axe, ↑ marque "
        "les variables qui augmentent et ↓ celles qui diminuent\u202f; l'axe 1 porte {share1} des écarts "
        "entre les clients des segments, l'axe 2 {share2}. Tracez un rectangle ou un lasso pour sélectionner, "
        "zoomez à la molette, survolez pour voir qui s'y trouve.",
    },
    "map_outside": {
        "en": "{n} customers lie beyond this view{aside}: zoom out to see them.",
        "fr": "{n}\u00a0clients sont hors de cette vue{aside}\u202f: dézoomez pour les voir.",
    },
    "map_outside_one": {
        "en": "1 customer lies beyond this view{aside}: zoom out to see it.",
        "fr": "1\u00a0client est hors de cette vue{aside}\u202f: dézoomez pour le voir.",
    },
    "map_outside_aside": {"en": " ({m} of them set aside)", "fr": " (dont {m} mis à part)"},
    "map_outside_aside_one": {"en": " (set aside)", "fr": " (mis à part)"},
    "map_hover_customer": {"en": "Customer {id}", "fr": "Client {id}"},
    "map_hover_count": {"en": "{n} customers here", "fr": "{n}\u00a0clients ici"},
    "map_hover_selected": {"en": "Selected: {n}", "fr": "Sélectionnés\u202f: {n}"},
    "map_hover_outside": {"en": "outside the selection", "fr": "hors de la sélection"},
    "axis_log": {"en": "log", "fr": "log"},
    "axis_asinh": {"en": "log ±", "fr": "log ±"},
    "distributions_help_scales": {
        "en": "Between the 1st and 99th percentile. “log” axes spread out the many small values; “log ±” axes "
        "do the same on both sides of 0, negative values (net refunds) left of 0. Drag along an axis to "
        "select a range.",
        "fr": "Entre le 1er et le 99e centile. Les axes «\u202flog\u202f» étalent les nombreuses petites "
        "valeurs\u202f; les axes «\u202flog ±\u202f» font de même des deux côtés de 0, les valeurs négatives "
        "(remboursements nets) à gauche de 0. Glissez le long d'un axe pour sélectionner un intervalle.",
    },
    # --- plots of the Explore tab (linked_views): new keys here ---
    "migration_kept": {
        "en": "{share} of customers keep an equivalent segment in v{b}.",
        "fr": "{share} des clients gardent un segment équivalent dans la v{b}.",
    },
    "migration_move": {
        "en": "Largest move: {share} of “{source}” ({n} customers) go to “{target}” in v{b}.",
        "fr": "Plus grand mouvement\u202f: {share} des «\u202f{source}\u202f» ({n} clients) "
        "passent dans «\u202f{target}\u202f» de la v{b}.",
    },
    "migration_move_new": {
        "en": "Largest move: {share} of “{source}” ({n} customers) go to “{target}”, "
        "a v{b} segment without an equivalent in v{a}.",
        "fr": "Plus grand mouvement\u202f: {share} des «\u202f{source}\u202f» ({n} clients) passent dans "
        "«\u202f{target}\u202f», un segment de la v{b} sans équivalent dans la v{a}.",
    },
    "migration_no_move": {
        "en": "No customer changes segment.",
        "fr": "Aucun client ne change de segment.",
    },
    "migration_help": {
        "en": "Each row shows where the customers of a v{a} segment are in v{b}, as a share of the row; "
        "hover a cell for the number of customers. Outlined cells pair each segment with its equivalent: "
        "the segment of the same name when they share at least a quarter of either's customers, otherwise "
        "the one-to-one pairing that keeps the most customers together.",
        "fr": "Chaque ligne montre où se trouvent dans la v{b} les clients d'un segment de la v{a}, en part de "
        "la ligne\u202f; survolez une case pour le nombre de clients. Les cases encadrées associent chaque "
        "segment à son équivalent\u202f: le segment du même nom quand ils partagent au moins un quart des "
        "clients de l'un d'eux, sinon l'appariement un à un qui garde le plus de clients ensemble.",
    },
    "migration_unmatched": {
        "en": "No equivalent in v{other}: {names}.",
        "fr": "Sans équivalent dans la v{other}\u202f: {names}.",
    },
    "migration_quote": {"en": "“{name}”", "fr": "«\u202f{name}\u202f»"},
    "migration_and": {"en": " and ", "fr": " et "},
    "migration_total": {"en": "Total", "fr": "Total"},
    "migration_cell_tip": {
        "en": "{n} of the {row_n} customers of “{source}” (v{a}) are in “{target}” (v{b})",
        "fr": "{n} des {row_n} clients de «\u202f{source}\u202f» (v{a}) sont dans «\u202f{target}\u202f» (v{b})",
    },
    "migration_total_tip": {
        "en": "{n} customers in “{name}” (v{version}): {share} of all",
        "fr": "{n} clients dans «\u202f{name}\u202f» (v{version})\u202f: {share} du total",
    },
    "migration_scored": {
        "en": "{n} customers scored by both versions.",
        "fr": "{n} clients classés par les deux versions.",
    },
    "drift_period_training": {"en": "Training customers", "fr": "Clients de l'entraînement"},
    "drift_period_current": {"en": "Current file", "fr": "Fichier actuel"},
    "drift_period_range": {"en": "{start} to {end} ({span})", "fr": "du {start} au {end} ({span})"},
    "drift_period_unknown": {
        "en": "not known (no as-of date or no recency and tenure recorded)",
        "fr": "inconnue (pas de date de référence, ou ni récence ni ancienneté)",
    },
    "drift_days_one": {"en": "1 day", "fr": "1 jour"},
    "drift_days_many": {"en": "{n} days", "fr": "{n} jours"},
    "drift_common": {
        "en": "{n} of the {total} current customers are also training customers.",
        "fr": "{n} des {total} clients actuels sont aussi des clients de l'entraînement.",
    },
    "period_same": {"en": "Same period.", "fr": "Même période."},
    "period_inside": {
        "en": "The current file's period lies within the training period ({share} of it).",
        "fr": "La période du fichier actuel est comprise dans celle de l'entraînement ({share} de celle-ci).",
    },
    "period_end_of": {
        "en": "The current file covers the last {n} days of the training period.",
        "fr": "Le fichier actuel couvre les {n} derniers jours de la période d'entraînement.",
    },
    "period_start_of": {
        "en": "The current file covers the first {n} days of the training period.",
        "fr": "Le fichier actuel couvre les {n} premiers jours de la période d'entraînement.",
    },
    "period_contains": {
        "en": "The current file's period holds the whole training period and {span} more.",
        "fr": "La période du fichier actuel contient toute celle de l'entraînement, plus {span}.",
    },
    "period_overlap": {
        "en": "The periods overlap for {span} ({share} of the training period).",
        "fr": "Les périodes se chevauchent sur {span} ({share} de la période d'entraînement).",
    },
    "period_after": {
        "en": "The current file starts {span} after the training period ends: a new period.",
        "fr": "Le fichier actuel commence {span} après la fin de la période d'entraînement\u202f: "
        "une nouvelle période.",
    },
    "period_right_after": {
        "en": "The current file starts the day after the training period ends: a new period.",
        "fr": "Le fichier actuel commence le lendemain de la fin de la période d'entraînement\u202f: "
        "une nouvelle période.",
    },
    "period_before": {
        "en": "The current file ends {span} before the training period starts.",
        "fr": "Le fichier actuel se termine {span} avant le début de la période d'entraînement.",
    },
    "period_right_before": {
        "en": "The current file ends the day before the training period starts.",
        "fr": "Le fichier actuel se termine la veille du début de la période d'entraînement.",
    },
    "period_length_caveat": {
        "en": "The periods differ in length ({training} against {current}): recency and tenure are counted "
        "within each period, so they shift by construction. Judge the other features and the segment "
        "shares first.",
        "fr": "Les périodes n'ont pas la même durée ({training} contre {current})\u202f: la récence et "
        "l'ancienneté se comptent dans chaque période et se décalent donc mécaniquement. Regardez d'abord "
        "les autres variables et la part des segments.",
    },
    "drift_psi_help": {
        "en": "Population Stability Index of each feature: how far the current customers' distribution is "
        "from the training customers' (0 = identical).",
        "fr": "Indice de stabilité de population (PSI) de chaque variable\u202f: l'écart entre la distribution "
        "des clients actuels et celle des clients de l'entraînement (0 = identique).",
    },
    "flag_help_stable": {
        "en": "PSI below {moderate}: the distribution barely moved.",
        "fr": "PSI inférieur à {moderate}\u202f: la distribution a peu bougé.",
    },
    "flag_help_moderate": {
        "en": "PSI from {moderate} to {major}: a visible change, worth watching.",
        "fr": "PSI de {moderate} à {major}\u202f: un changement visible, à surveiller.",
    },
    "flag_help_major": {
        "en": "PSI {major} or more: on this feature the customers no longer look like the training ones; "
        "consider training a new version.",
        "fr": "PSI de {major} ou plus\u202f: sur cette variable, les clients ne ressemblent plus à ceux de "
        "l'entraînement\u202f; envisagez d'entraîner une nouvelle version.",
    },
    "psi_capped": {
        "en": "Bars beyond {limit} are cut at the edge; their value is written after them.",
        "fr": "Les barres au-delà de {limit} sont coupées au bord\u202f; leur valeur est écrite à leur suite.",
    },
    "drift_shares_help": {
        "en": "Share of customers in each segment when this version labels the training customers and the "
        "current ones; the change is in percentage points.",
        "fr": "Part des clients de chaque segment quand cette version classe les clients de l'entraînement et "
        "les clients actuels\u202f; la variation est en points de pourcentage.",
    },
    # --- Compare and Drift (version_views): new keys here ---
    # Version picker: one entry per version
    "version_entry": {"en": "v{version} · {k} segments", "fr": "v{version} · {k}\u00a0segments"},
    "version_entry_aliases": {
        "en": "v{version} — {aliases} · {k} segments",
        "fr": "v{version} — {aliases} · {k}\u00a0segments",
    },
    # Model card: plain words first, the data scientist's numbers under "Details"
    "card_version": {"en": "v{version} — {aliases}", "fr": "v{version} — {aliases}"},
    "card_segments_aside_one": {"en": "{k}, and 1 group set aside", "fr": "{k}, et 1\u00a0groupe mis à part"},
    "card_segments_aside": {"en": "{k}, and {n} groups set aside", "fr": "{k}, et {n}\u00a0groupes mis à part"},
    "card_period": {"en": "Period", "fr": "Période"},
    "card_trained_on": {"en": "{date} on {file}", "fr": "{date} sur {file}"},
    "card_data_until": {"en": "data up to {date}", "fr": "données jusqu'au {date}"},
    "card_details": {"en": "Details", "fr": "Détails"},
    "card_trained_exactly": {"en": "Registered", "fr": "Enregistré le"},
    "card_training_file": {"en": "Training data", "fr": "Données d'entraînement"},
    # The period the figures cover (KPI cards, model card)
    "period_dates": {"en": "{start} – {end}", "fr": "du {start} au {end}"},
    "kpi_period": {"en": "Revenue and {what}, {period}", "fr": "Chiffre d'affaires et {what}, {period}"},
    "kpi_totals": {
        "en": "{customers} customers, {revenue}, {count} {what}",
        "fr": "{customers}\u00a0clients, {revenue}, {count}\u00a0{what}",
    },
    # Profile table
    "profile_title": {"en": "Segment profiles", "fr": "Profils des segments"},
    "profile_subtitle": {
        "en": "The typical customer of each segment, beside all customers, in real units.",
        "fr": "Le client type de chaque segment, à côté de l'ensemble des clients, en unités réelles.",
    },
    "profile_all": {"en": "All customers", "fr": "Tous les clients"},
    "profile_sentence": {"en": "In a sentence", "fr": "En une phrase"},
    "profile_sentence_training": {"en": "In a sentence, at training", "fr": "En une phrase, à l'entraînement"},
    "profile_median": {"en": "median", "fr": "médiane"},
    "profile_mean": {"en": "mean", "fr": "moyenne"},
    "profile_set_aside": {"en": "set aside", "fr": "mis à part"},
    "profile_above": {"en": "well above all customers", "fr": "nettement au-dessus de l'ensemble"},
    "profile_below": {"en": "well below all customers", "fr": "nettement en dessous de l'ensemble"},
    "profile_help": {
        "en": "▲ ▼ well above or below all customers: 0.8 standard deviation or more on the model's scale, "
        "the yardstick of the segment names. Counts, days and money are medians (a few very large accounts "
        "drag a mean far from the typical customer); shares are means.",
        "fr": "▲ ▼ nettement au-dessus ou en dessous de l'ensemble des clients\u202f: au moins 0,8\u00a0écart-type "
        "sur l'échelle du modèle, celle des noms de segments. Nombres, jours et montants sont des médianes "
        "(quelques très gros comptes éloignent la moyenne du client type)\u202f; les parts sont des moyennes.",
    },
    "profile_set_aside_help": {
        "en": "Set aside before K-means: net refunders (refunds exceed purchases) and exceptional accounts "
        "(far beyond the rest); groups, not segments.",
        "fr": "Mis à part avant K-means\u202f: comptes en solde négatif (remboursements supérieurs aux achats) "
        "et comptes hors norme (très loin des autres)\u202f; des groupes, pas des segments.",
    },
    # Customer table: short headers with the unit (the full label is the header's tooltip)
    "col_recency_days": {"en": "Recency (d)", "fr": "Récence (j)"},
    "col_tenure_days": {"en": "Tenure (d)", "fr": "Ancienneté (j)"},
    "col_monetary": {"en": "Revenue ({currency})", "fr": "CA ({currency})"},
    "col_avg_amount": {"en": "Avg price ({currency})", "fr": "Prix moy. ({currency})"},
    "col_avg_weight_kg": {"en": "Avg weight (kg)", "fr": "Poids moy. (kg)"},
    "col_express_share": {"en": "Express", "fr": "Express"},
    "col_relay_share": {"en": "Relay", "fr": "Relais"},
    "col_international_share": {"en": "Intl", "fr": "Internat."},
    "col_late_rate": {"en": "Late", "fr": "Retards"},
    "col_return_rate": {"en": "Returns", "fr": "Retours"},
    "export_all_name": {"en": "all customers", "fr": "tous les clients"},
    "export_filtered_name": {"en": "{name} filtered", "fr": "{name} filtrés"},
    "table_columns": {"en": "Columns shown", "fr": "Colonnes affichées"},
    # --- page, model card, KPI cards, profile table, customer table: new keys here ---
}

#: Feature labels for axes, table headers and the heatmap.
FEATURE_LABELS: dict[str, dict[str, str]] = {
    "recency_days": {"en": "Recency (days)", "fr": "Récence (jours)"},
    "frequency": {"en": "Shipments", "fr": "Envois"},
    "monetary": {"en": "Revenue ({currency})", "fr": "Chiffre d'affaires ({currency})"},
    "avg_amount": {"en": "Average price ({currency})", "fr": "Prix moyen ({currency})"},
    "tenure_days": {"en": "Tenure (days)", "fr": "Ancienneté (jours)"},
    "avg_weight_kg": {"en": "Average weight (kg)", "fr": "Poids moyen (kg)"},
    "express_share": {"en": "Express share", "fr": "Part express"},
    "relay_share": {"en": "Relay-point share", "fr": "Part point relais"},
    "international_share": {"en": "International share", "fr": "Part international"},
    "late_rate": {"en": "Late rate", "fr": "Taux de retard"},
    "return_rate": {"en": "Return rate", "fr": "Taux de retour"},
}


def t(key: str, lang: str, **values: object) -> str:
    """The string ``key`` in ``lang``, with ``{placeholders}`` filled from ``values``.

    Raises ``KeyError`` for an unknown key: a typo must fail in the tests, not show a blank label.
    """
    text = TEXT[key][lang if lang in LANGUAGES else DEFAULT_LANGUAGE]
    return text.format(**values) if values else text


#: ``frequency`` counts orders, not shipments, when the data has no shipment columns.
ORDER_LABELS: dict[str, str] = {"en": "Orders", "fr": "Commandes"}


def feature_label(name: str, lang: str, *, currency: str = "EUR", orders: bool = False) -> str:
    """Readable label of a feature; unknown features (custom data) keep their column name.

    ``currency`` (ISO 4217) is shown on money features; ``orders`` names ``frequency`` "Orders"
    for data without shipment columns.
    """
    lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE
    if name == "frequency" and orders:
        return ORDER_LABELS[lang]
    labels = FEATURE_LABELS.get(name)
    if not labels:
        return name
    symbol = currency_symbol(currency)
    return labels[lang].format(currency=symbol) if symbol else labels[lang].replace(" ({currency})", "")


def currency_symbol(currency: str) -> str:
    """The symbol of an ISO 4217 code (``£``, ``€``, ``$``); empty for an unknown currency."""
    from babel.numbers import get_currency_symbol

    return get_currency_symbol(currency, locale="en") if currency else ""


def language_from_header(accept_language: str | None) -> str:
    """The first supported language of an HTTP ``Accept-Language`` header, else English.

    ``"fr-FR,fr;q=0.9,en;q=0.8"`` gives ``"fr"``. Entries are taken by decreasing ``q`` weight (RFC 9110
    §12.5.4); ties keep the browser's order.
    """
    if not accept_language:
        return DEFAULT_LANGUAGE
    weighted = []
    for position, item in enumerate(accept_language.split(",")):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0  # a malformed weight: rank the entry last rather than guess
        weighted.append((-quality, position, tag.strip().lower().split("-")[0]))
    for _, _, language in sorted(weighted):
        if language in LANGUAGES:
            return language
    return DEFAULT_LANGUAGE


def fmt_int(value: float, lang: str) -> str:
    """``12,345`` in English, ``12 345`` in French; negatives with a true minus (``−12``)."""
    if not math.isfinite(value):
        return "–"
    text = true_minus(f"{round(value):,}")
    return text.replace(",", _NNBSP) if lang == "fr" else text


def fmt_float(value: float, lang: str, digits: int = 2) -> str:
    """A decimal number: ``0.41`` in English, ``0,41`` in French; negatives with a true minus (``−0.41``)."""
    if not math.isfinite(value):
        return "–"
    text = true_minus(f"{value:,.{digits}f}")
    if lang == "fr":
        return text.replace(",", _NNBSP).replace(".", ",")
    return text


def fmt_pct(share: float, lang: str, digits: int = 1) -> str:
    """A share as a percentage: ``12.5%`` in English, ``12,5 %`` in French."""
    if not math.isfinite(share):
        return "–"
    number = fmt_float(100 * share, lang, digits)
    return f"{number}{_NNBSP}%" if lang == "fr" else f"{number}%"


def fmt_money(value: float, lang: str, currency: str = "EUR") -> str:
    """Money without cents: ``€12,345`` in English, ``12 345 €`` in French (``£`` for GBP…).

    A negative amount (refunds) takes a true minus before the whole amount: ``−£1,234``, ``−1 234 £``.
    """
    if not math.isfinite(value):
        return "–"
    if value < 0 and round(value) != 0:
        return MINUS + fmt_money(-value, lang, currency)
    number = fmt_int(abs(value), lang)
    symbol = currency_symbol(currency)
    if not symbol:
        return number
    return f"{number}{_NNBSP}{symbol}" if lang == "fr" else f"{symbol}{number}"


def fmt_money_short(value: float, lang: str, currency: str = "EUR") -> str:
    """Compact money for cards: ``€1.6M`` / ``€698k`` in English, ``1,6 M€`` / ``698 k€`` in French."""
    if not math.isfinite(value):
        return "–"
    if value < 0 and abs(value) >= 0.5:
        return MINUS + fmt_money_short(-value, lang, currency)
    symbol = currency_symbol(currency)
    for threshold, suffix in ((1e9, "B" if lang != "fr" else "Md"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= threshold:
            number = fmt_float(value / threshold, lang, 1 if abs(value) < 100 * threshold else 0)
            if lang == "fr":
                return f"{number}{_NNBSP}{suffix}{symbol}"
            return f"{symbol}{number}{suffix}"
    return fmt_money(value, lang, currency)


#: The phrases of the recommendation sentence that ``workflow.clustering`` writes in English
#: (``recommend_k``, ``_only_k``, ``_pick``, ``describe_set_aside``), in the order they are replaced, and their
#: French. The sentence is stored with the model version in English; the page translates it here.
_RECOMMENDATION_FR: tuple[tuple[str, str], ...] = (
    (r"^k=(\d+): best silhouette \(([\d.]+)\) among the ", r"k=\1 : meilleure silhouette (\2) parmi les "),
    (
        r"^k=(\d+): silhouette ([\d.]+), within ([\d.]+) of the best \(k=(\d+), ([\d.]+)\) among the ",
        r"k=\1 : silhouette \2, à moins de \3 de la meilleure (k=\4, \5) parmi les ",
    ),
    (r"^k=(\d+): the only k asked for; silhouette ([\d.]+)", r"k=\1 : le seul k demandé ; silhouette \2"),
    (r"k from (\d+) to (\d+) with ", r"k de \1 à \2 où "),
    (r"k asked for with ", r"k demandés où "),
    (r"no k had every segment ≥ (\d+)% of customers", r"aucun k n'a chaque segment ≥ \1 % des clients"),
    (r"every segment ≥ (\d+)% of customers", r"chaque segment fait ≥ \1 % des clients"),
    (r" and stability ARI ≥ ([\d.]+)", r" et la stabilité ARI ≥ \1"),
    (r" \(none reached ([\d.]+)\)", r" (aucun n'atteignait \1)"),
    (r" \(no k was stable\)", r" (aucun k n'était stable)"),
    (r", and more segments to act on", r", et plus de segments sur lesquels agir"),
    (r"; stability ARI ([\d.]+), smallest segment ([\d.]+)%", r" ; stabilité ARI \1, plus petit segment \2 %"),
    (r"\b1 net refunder\b", r"1 compte en solde négatif"),
    (r"\b1 exceptional account\b", r"1 compte hors norme"),
    (r"([\d,]+) net refunders\b", r"\1 comptes en solde négatif"),
    (r"([\d,]+) exceptional accounts\b", r"\1 comptes hors norme"),
    (r" and (\d)", r" et \1"),
    (
        r" set aside before K-means \(under 0\.1% of customers\)",
        r" mis à part avant K-means (moins de 0,1 % des clients)",
    ),
    (r" set aside before K-means \(([\d.]+)% of customers\)", r" mis à part avant K-means (\1 % des clients)"),
    (r"; (\d)", r" ; \1"),
)


def recommendation_text(text: str, lang: str) -> str | None:
    """The model's "why this k" sentence in ``lang``; None when it cannot be given in that language.

    English is the sentence as recorded. French is rebuilt phrase by phrase from the known pattern
    (numbers get a decimal comma and a narrow space before %); a sentence of another shape (an older
    version's, a hand-set one) gives None rather than a half-English line.
    """
    import re

    if lang != "fr":
        return text
    if not text.startswith("k="):
        return None
    out = text
    for pattern, replacement in _RECOMMENDATION_FR:
        out = re.sub(pattern, replacement, out)
    opened = re.match(r"k=\d+ : ", out)  # one of the two openings of ``_pick`` was recognised
    if not opened or re.search(r"\b(among|best|within|stability|smallest|customers|set aside|of the)\b", out):
        return None  # a phrase this table does not know: no mixed-language sentence
    out = re.sub(r"(\d),(\d{3})", "\\1" + _NNBSP + "\\2", out)  # thousands: 1,234 → 1 234
    out = re.sub(r"(\d)\.(\d)", r"\1,\2", out)  # decimals: 0.443 → 0,443
    return out.replace(" %", _NNBSP + "%").replace(" :", "\u00a0:").replace(" ;", "\u00a0;")
