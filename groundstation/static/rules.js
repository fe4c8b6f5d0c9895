/* The dispatch table: a deadline's amount field takes the bounds of the unit chosen beside it
   (working days are whole, from 1 to 250; hours from 0.1), as the server checks them. */
"use strict";
(function () {
  var bounds = JSON.parse(document.getElementById("deadline-bounds").textContent);
  function follow(select) {
    var unit = bounds[select.value];
    var amount = select.parentNode.querySelector('input[name="deadline_amount"]');
    if (!unit || !amount) { return; }
    amount.min = unit.low;
    amount.max = unit.high;
    amount.step = unit.step;
  }
  document.querySelectorAll("#rules select.deadline-unit").forEach(function (select) {
    select.addEventListener("change", function () { follow(select); });
  });
})();
